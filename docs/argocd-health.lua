-- Argo CD health check for notifications.causely.ai/IncidentDestination.
-- Install under argocd-cm key resource.customizations.health.notifications.causely.ai_IncidentDestination
-- (docs/kubernetes.md). Order matters: a status written for an older generation says nothing about the
-- current spec, so it is Progressing before anything else is judged. A wrong configuration, a refused key
-- and deliveries incident.io keeps refusing are Degraded (a person must act); incident.io not answering or
-- rate-limiting is Progressing (it passes by itself, and a sync should not fail on incident.io's outage).
local hs = {}

-- Degraded/Ready reasons that recover by themselves (kube/status.py ARGO_CD_HEALTH: "Progressing").
local PASSING = {IncidentIOUnreachable = true, RateLimited = true, Pending = true}

local function find_condition(conditions, wanted)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == wanted then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  if condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason
  end
  return fallback
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = obj.status.conditions
for _, name in ipairs({"ConfigValid", "Authenticated"}) do
  local condition = find_condition(conditions, name)
  if condition ~= nil and condition.status == "False" then
    hs.status = "Degraded"
    hs.message = name .. ": " .. describe(condition, "False")
    return hs
  end
end

local degraded = find_condition(conditions, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  if PASSING[degraded.reason] then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = tostring(degraded.reason) .. ": " .. describe(degraded, "True")
  return hs
end

local ready = find_condition(conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end
if ready ~= nil and ready.status == "False" then
  if PASSING[ready.reason] then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = "Ready: " .. describe(ready, "False")
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
