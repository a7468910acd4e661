{{/* The chart's name (app.kubernetes.io/name; the PrometheusRule's job label is this value). */}}
{{- define "causely-incidentio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name when it already contains the chart name, else <release>-<chart>. */}}
{{- define "causely-incidentio.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "causely-incidentio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "causely-incidentio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "causely-incidentio.labels" -}}
{{ include "causely-incidentio.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The pods: the selector labels plus the component, as the kustomize base selects them. */}}
{{- define "causely-incidentio.podSelectorLabels" -}}
{{ include "causely-incidentio.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "causely-incidentio.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "causely-incidentio.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "causely-incidentio.receiverSecretName" -}}
{{- default (printf "%s-receiver" (include "causely-incidentio.fullname" .)) .Values.receiver.existingSecret.name }}
{{- end }}

{{/*
The Secret holding the default destination's API key. Its name is the operator's, not the release's: the
IncidentDestination incidentio-env the operator makes from INCIDENT_IO_* points its tokenSecretRef at
causely-incidentio-env / api_token (operator/causely_incidentio/kube/envdest.py), so the key must be there.
*/}}
{{- define "causely-incidentio.incidentIoSecretName" -}}
causely-incidentio-env
{{- end }}

{{/* The namespaces watched besides the release namespace, without duplicates. */}}
{{- define "causely-incidentio.extraNamespaces" -}}
{{- without (uniq .Values.watchNamespaces) .Release.Namespace | toJson }}
{{- end }}

{{/*
The operator's rules: the same as manifests/rbac.yaml (tests/chart compares them), one rule per purpose.
docs/kubernetes.md explains each one. Argument: a dict with leases (bool), the Lease rule only where the Lease lives.
*/}}
{{- define "causely-incidentio.rules" -}}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: [notifications.causely.ai]
  resources: [incidentdestinations]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [notifications.causely.ai]
  resources: [incidentdestinations/status]
  verbs: [patch]
- apiGroups: [notifications.causely.ai]
  resources: [findings]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [notifications.causely.ai]
  resources: [findings/status]
  verbs: [patch]
{{- if .leases }}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
{{- end }}
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* notifications.incident_io.enabled as Causely's values may carry it: true or "true" ("false" is off). */}}
{{- define "causely-incidentio.incidentIoEnabled" -}}
{{- if eq (toString .Values.notifications.incident_io.enabled | lower) "true" }}true{{ end }}
{{- end }}
