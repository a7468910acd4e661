"""What the client sends and how it reads answers: bodies, headers, tokens, pagination, pools, hooks."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
import respx
from incidentio_fakes import (
    BASE,
    TOKEN,
    FakeTime,
    incident_json,
    incident_type_json,
    severity_json,
    status_json,
)

from causely_incidentio import __version__
from causely_incidentio.incidentio import (
    AuthenticationError,
    IncidentIOClient,
    IncidentIOError,
    RetryPolicy,
    close_pools,
)
from causely_incidentio.incidentio.client import _pool
from causely_incidentio.incidentio.ratelimit import bucket_for
from causely_incidentio.settings import Settings

MakeClient = Callable[..., IncidentIOClient]


def page(ids: list[str], after: str | None = None, total: int | None = None) -> httpx.Response:
    meta: dict[str, object] = {"page_size": 2}
    if after is not None:
        meta["after"] = after
    if total is not None:
        meta["total_record_count"] = total
    return httpx.Response(
        200, json={"incidents": [incident_json(id=i) for i in ids], "pagination_meta": meta}
    )


class TestCreateAndEdit:
    async def test_create_sends_only_given_fields_with_auth_and_user_agent(
        self, make_client: MakeClient
    ) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.post("/v2/incidents").mock(
                return_value=httpx.Response(200, json={"incident": incident_json()})
            )
            incident = await make_client().create_incident(
                idempotency_key="dest:obj:1",
                visibility="public",
                name="Checkout is slow",
                severity_id="sev-major",
                mode="test",
                custom_field_entries=[{"custom_field_id": "cf", "values": [{"value_text": "x"}]}],
            )
        request = route.calls.last.request
        assert json.loads(request.content) == {
            "idempotency_key": "dest:obj:1",
            "visibility": "public",
            "name": "Checkout is slow",
            "severity_id": "sev-major",
            "mode": "test",
            "custom_field_entries": [{"custom_field_id": "cf", "values": [{"value_text": "x"}]}],
        }
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["User-Agent"] == f"causely-incidentio/{__version__}"
        assert request.headers["Content-Type"] == "application/json"
        assert incident.reference == "INC-1"
        assert incident.incident_status.category == "live"
        assert incident.severity is not None and incident.severity.rank == 2

    async def test_create_refuses_an_empty_idempotency_key(self, make_client: MakeClient) -> None:
        with pytest.raises(ValueError, match="idempotency_key"):
            await make_client().create_incident(idempotency_key="", visibility="public")

    async def test_edit_wraps_changes_and_quotes_the_id(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.post("/v2/incidents/a%2Fb/actions/edit").mock(
                return_value=httpx.Response(200, json={"incident": incident_json(id="a/b")})
            )
            await make_client().edit_incident(
                "a/b", notify_incident_channel=True, incident_status_id="st-closed"
            )
        assert json.loads(route.calls.last.request.content) == {
            "incident": {"incident_status_id": "st-closed"},
            "notify_incident_channel": True,
        }

    async def test_edit_needs_a_change_and_an_id(self, make_client: MakeClient) -> None:
        with pytest.raises(ValueError, match="at least one field"):
            await make_client().edit_incident("01INC", notify_incident_channel=False)
        with pytest.raises(ValueError, match="id must not be empty"):
            await make_client().show_incident("")


class TestReads:
    async def test_catalog_lists_tolerate_new_fields_and_enum_values(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            api.get("/v1/severities").mock(
                return_value=httpx.Response(
                    200, json={"severities": [{**severity_json("Minor", 1), "colour": "red"}]}
                )
            )
            api.get("/v1/incident_statuses").mock(
                return_value=httpx.Response(
                    200, json={"incident_statuses": [status_json("Snoozed", "hibernating")]}
                )
            )
            api.get("/v1/incident_types").mock(
                return_value=httpx.Response(
                    200, json={"incident_types": [incident_type_json("Outage", "t1", True)]}
                )
            )
            api.get("/v1/identity").mock(
                return_value=httpx.Response(
                    200, json={"identity": {"name": "causely", "roles": ["incident_creator"], "teams": []}}
                )
            )
            client = make_client()
            severities = await client.list_severities()
            statuses = await client.list_incident_statuses()
            types = await client.list_incident_types()
            identity = await client.identity()
        assert severities[0].name == "Minor"
        assert (severities[0].model_extra or {})["colour"] == "red"
        assert statuses[0].category == "hibernating"
        assert not statuses[0].is_resolved and not statuses[0].is_terminal
        assert types[0].is_default
        assert identity.roles == ["incident_creator"] and identity.dashboard_url is None

    async def test_unexpected_response_shape_is_a_typed_error(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            api.get("/v2/incidents/01INC").mock(
                return_value=httpx.Response(200, json={"incident": {"id": 1}})
            )
            api.get("/v1/severities").mock(return_value=httpx.Response(200, text="<html>"))
            client = make_client()
            with pytest.raises(IncidentIOError) as caught:
                await client.show_incident("01INC")
            assert caught.value.type == "invalid_response"
            assert "incident" in str(caught.value)
            with pytest.raises(IncidentIOError, match="not JSON"):
                await client.list_severities()


class TestPagination:
    async def test_follows_after_and_repeats_filter_keys(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents").mock(
                side_effect=[page(["a", "b"], after="b", total=5), page(["c", "d"], after="d"), page(["e"])]
            )
            client = make_client()
            ids = [
                i.id
                async for i in client.list_incidents(
                    page_size=2, status_categories=["live", "triage"], modes=["standard", "test"]
                )
            ]
        assert ids == ["a", "b", "c", "d", "e"]
        assert route.call_count == 3
        first, second, third = (call.request.url for call in route.calls)
        assert first.params.get_list("mode[one_of]") == ["standard", "test"]
        assert first.params.get_list("status_category[one_of]") == ["live", "triage"]
        assert "mode%5Bone_of%5D=standard&mode%5Bone_of%5D=test" in str(first)
        assert first.params.get("page_size") == "2" and "after" not in first.params
        assert second.params.get("after") == "b" and third.params.get("after") == "d"
        assert third.params.get_list("mode[one_of]") == ["standard", "test"]

    async def test_stops_on_missing_or_empty_after(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents").mock(side_effect=[page(["a"], after=""), page(["never"])])
            ids = [i.id async for i in make_client().list_incidents()]
        assert ids == ["a"] and route.call_count == 1

    async def test_stops_on_an_empty_page_even_with_a_cursor(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents").mock(
                side_effect=[page(["a"], after="a"), page([], after="z"), page(["x"])]
            )
            ids = [i.id async for i in make_client().list_incidents()]
        assert ids == ["a"] and route.call_count == 2

    async def test_stops_when_the_server_repeats_a_cursor(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents").mock(
                side_effect=[page(["a"], after="a"), page(["a"], after="a"), page(["x"])]
            )
            ids = [i.id async for i in make_client().list_incidents()]
        assert ids == ["a", "a"] and route.call_count == 2

    async def test_one_page_reports_cursor_and_total(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents").mock(return_value=page(["a"], after="a", total=7))
            result = await make_client().list_incidents_page(after="z", modes="test")
        assert result.after == "a" and result.total_record_count == 7
        assert [i.id for i in result.incidents] == ["a"]
        url = route.calls.last.request.url
        assert url.params.get("after") == "z"
        assert url.params.get_list("mode[one_of]") == ["test"]  # a bare string is one value
        assert url.params.get("page_size") == "250"

    @pytest.mark.parametrize("size", [0, 251])
    async def test_page_size_is_bounded(self, make_client: MakeClient, size: int) -> None:
        with pytest.raises(ValueError, match="page_size"):
            await make_client().list_incidents_page(page_size=size)


class TestTokens:
    async def test_a_callable_token_is_resolved_for_every_attempt(self, make_client: MakeClient) -> None:
        tokens = iter(["old-token", "new-token\n"])
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v1/identity").mock(
                side_effect=[httpx.Response(503), httpx.Response(200, json={"identity": {"name": "k"}})]
            )
            await make_client(token=lambda: next(tokens)).identity()
        sent = [call.request.headers["Authorization"] for call in route.calls]
        assert sent == ["Bearer old-token", "Bearer new-token"]  # rotated, and the Secret's newline stripped

    async def test_a_missing_token_fails_before_any_request(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE, assert_all_called=False) as api:
            route = api.get("/v1/identity")
            with pytest.raises(AuthenticationError) as caught:
                await make_client(token=lambda: "  ").identity()
        assert route.call_count == 0
        assert caught.value.type == "missing_token" and caught.value.status is None

    async def test_a_token_unfit_for_a_header_is_refused_without_quoting_it(
        self, make_client: MakeClient
    ) -> None:
        with respx.mock(base_url=BASE, assert_all_called=False) as api:
            route = api.get("/v1/identity")
            with pytest.raises(AuthenticationError) as caught:
                await make_client(token='"abc def"').identity()
        assert route.call_count == 0
        assert caught.value.type == "invalid_token"
        assert "abc def" not in str(caught.value)

    async def test_the_token_is_never_stored_on_the_shared_pool(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            api.get("/v1/identity").mock(return_value=httpx.Response(200, json={"identity": {"name": "k"}}))
            await make_client().identity()
        pool = _pool(BASE)
        assert "authorization" not in pool.headers
        assert TOKEN not in repr(pool.headers)


class TestPoolsAndHooks:
    async def test_clients_share_one_pool_per_base_url(self) -> None:
        assert _pool(BASE) is _pool(BASE + "")
        assert _pool(BASE) is not _pool("http://127.0.0.1:1")
        first = _pool(BASE)
        await close_pools()
        assert first.is_closed
        assert _pool(BASE) is not first

    async def test_on_request_sees_every_attempt_with_the_templated_endpoint(
        self, make_client: MakeClient
    ) -> None:
        seen: list[tuple[str, int | None]] = []
        with respx.mock(base_url=BASE) as api:
            api.post("/v2/incidents/01INC/actions/edit").mock(
                side_effect=[
                    httpx.ConnectError("refused"),
                    httpx.Response(502),
                    httpx.Response(200, json={"incident": incident_json()}),
                ]
            )
            client = make_client(on_request=lambda endpoint, status: seen.append((endpoint, status)))
            await client.edit_incident("01INC", notify_incident_channel=False, severity_id="s")
        endpoint = "POST /v2/incidents/{id}/actions/edit"
        assert seen == [(endpoint, None), (endpoint, 502), (endpoint, 200)]

    async def test_a_failing_hook_does_not_fail_the_call(self, make_client: MakeClient) -> None:
        def broken(endpoint: str, status: int | None) -> None:
            raise RuntimeError("metrics down")

        with respx.mock(base_url=BASE) as api:
            api.get("/v1/identity").mock(return_value=httpx.Response(200, json={"identity": {"name": "k"}}))
            assert (await make_client(on_request=broken).identity()).name == "k"

    async def test_closed_client_refuses_calls(self, make_client: MakeClient) -> None:
        async with make_client() as client:
            pass
        with pytest.raises(RuntimeError, match="closed"):
            await client.identity()

    async def test_from_settings(self) -> None:
        settings = Settings(
            incident_io_api_url="http://127.0.0.1:9/",
            incident_io_read_timeout=3.0,
            incident_io_connect_timeout=1.0,
            incident_io_retry_max_seconds=9.0,
        )
        client = IncidentIOClient.from_settings(settings, TOKEN)
        assert client.base_url == "http://127.0.0.1:9"
        assert client.retry == RetryPolicy(max_total_seconds=9.0)
        assert client._timeout.read == 3.0 and client._timeout.connect == 1.0


class TestDefaultBucket:
    async def test_clients_with_the_same_key_share_a_bucket_and_other_keys_do_not(
        self, fake_time: FakeTime
    ) -> None:
        def client(token: str) -> IncidentIOClient:
            return IncidentIOClient(
                token,
                base_url=BASE,
                bucket_capacity=10,
                bucket_refill_per_second=0.001,
                sleep=fake_time.sleep,
            )

        with respx.mock(base_url=BASE) as api:
            api.get("/v1/identity").mock(return_value=httpx.Response(200, json={"identity": {"name": "k"}}))
            await client("key-a").identity()
            await client("key-a").identity()
            await client("key-b").identity()
        assert bucket_for("key-a").available == pytest.approx(8.0, abs=0.5)
        assert bucket_for("key-b").available == pytest.approx(9.0, abs=0.5)
