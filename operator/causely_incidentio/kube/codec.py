"""Compact string encodings of journal entries for ``IncidentDestination.status``.

Why strings: the CRD declares ``status.pending`` and ``status.incidents`` as atomic maps of strings. Measured on
a real API server, a map of typed objects costs about twice as much per merge patch as a map of strings and
bloats managedFields, so every entry is one short delimited string, written and read only by the operator.

``status.pending``  key: the destination's sequence number, zero-padded to 10 digits (so ``kubectl`` lists the
                    entries in arrival order); value::

                        1|<received_at>|<attempts>|<objectId>|z<base64(zlib(payload))>|<last error>

``status.incidents`` key: the Causely objectId; value::

                        1|<state>|<severity>|<occurrence>|<last_ts_ns>|<reference>|<incident id>|<permalink>
                         |<attempts>|<updated_at>|<created_at>|<last error>

The leading ``1`` is the format version: an entry with another version is left alone, never misread. Text
fields escape ``%`` and ``|`` as ``%25`` and ``%7C`` (nothing else), so any character is safe in an error. An
empty field means "none" (an empty string and None read back the same). Times are epoch seconds rounded to
the millisecond; the last error is cut to :data:`ERROR_LIMIT` characters. The finding's title is not stored
(the next notification carries it again). The payload is kept byte for byte (zlib at level 9, then base64):
a 1.7 KB Causely notification becomes a ~1 KB entry.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from causely_incidentio.sync.records import FindingRecord, PendingAction, State

VERSION = "1"
SEP = "|"
ERROR_LIMIT = 200
ELLIPSIS = "..."
SEQ_DIGITS = 10
PAYLOAD_ZLIB = "z"  # the payload's encoding tag: base64 of zlib-compressed bytes


class CodecError(ValueError):
    """A status entry this operator cannot read (another format version, or damaged)."""


def escape(text: str) -> str:
    return text.replace("%", "%25").replace(SEP, "%7C")


def unescape(text: str) -> str:
    return text.replace("%7C", SEP).replace("%25", "%")


def _opt(text: str | None) -> str:
    return "" if text is None else escape(text)


def _opt_back(field: str) -> str | None:
    return unescape(field) if field else None


def _time(t: float) -> str:
    text = f"{t:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def round_time(t: float) -> float:
    """``t`` as it reads back from status (millisecond precision)."""
    return float(_time(t))


def truncate_error(error: str | None) -> str | None:
    """At most :data:`ERROR_LIMIT` characters, with ``...`` where it was cut."""
    if error is None or len(error) <= ERROR_LIMIT:
        return error
    return error[: ERROR_LIMIT - len(ELLIPSIS)] + ELLIPSIS


def seq_key(seq: int) -> str:
    return f"{seq:0{SEQ_DIGITS}d}"


def parse_seq_key(key: str) -> int:
    if not key.isdigit():
        raise CodecError(f"pending key {key[:40]!r} is not a sequence number")
    return int(key)


def entry_size(key: str, value: str) -> int:
    """Bytes this map entry adds to the serialized status (JSON-escaped, so an estimate on the safe side)."""
    return len(json.dumps(key)) + len(json.dumps(value)) + 2  # + the colon and the comma


# -- pending actions -------------------------------------------------------------------------------------
def encode_payload(payload: bytes) -> str:
    return PAYLOAD_ZLIB + base64.b64encode(zlib.compress(payload, 9)).decode("ascii")


def decode_payload(text: str) -> bytes:
    if not text.startswith(PAYLOAD_ZLIB):
        raise CodecError(f"unknown payload encoding {text[:1]!r}")
    try:
        return zlib.decompress(base64.b64decode(text[1:], validate=True))
    except (binascii.Error, zlib.error) as exc:
        raise CodecError(f"damaged payload: {exc}") from exc


def encode_pending(action: PendingAction, payload: str | None = None) -> tuple[str, str]:
    """The action's (key, value); ``payload`` may pass its already encoded payload, to skip compressing again."""
    fields = (
        VERSION,
        _time(action.received_at),
        str(action.attempts),
        escape(action.object_id),
        payload if payload is not None else encode_payload(action.payload),
        _opt(truncate_error(action.last_error)),
    )
    return seq_key(action.seq), SEP.join(fields)


def payload_field(value: str) -> str:
    """The encoded payload inside a pending entry (base64 never contains the separator)."""
    return value.split(SEP)[4]


def decode_pending(destination_id: str, key: str, value: str) -> PendingAction:
    seq = parse_seq_key(key)
    fields = value.split(SEP)
    if fields[0] != VERSION or len(fields) != 6:
        raise CodecError(f"pending entry {key}: unknown format {fields[0][:8]!r} with {len(fields)} fields")
    try:
        received_at, attempts = float(fields[1]), int(fields[2])
    except ValueError as exc:
        raise CodecError(f"pending entry {key}: {exc}") from exc
    return PendingAction(
        seq=seq,
        destination_id=destination_id,
        object_id=unescape(fields[3]),
        payload=decode_payload(fields[4]),
        received_at=received_at,
        attempts=attempts,
        last_error=_opt_back(fields[5]),
    )


# -- finding records -------------------------------------------------------------------------------------
RECORD_FIELDS = 12


def encode_record(record: FindingRecord) -> str:
    fields = (
        VERSION,
        record.state.value,
        _opt(record.severity),
        str(record.occurrence),
        "" if record.last_ts_ns is None else str(record.last_ts_ns),
        _opt(record.reference),
        _opt(record.incident_id),
        _opt(record.permalink),
        str(record.attempts),
        _time(record.updated_at),
        _time(record.created_at),
        _opt(truncate_error(record.last_error)),
    )
    return SEP.join(fields)


def decode_record(destination_id: str, object_id: str, value: str) -> FindingRecord:
    fields = value.split(SEP)
    if fields[0] != VERSION or len(fields) != RECORD_FIELDS:
        raise CodecError(
            f"record {object_id[:80]}: unknown format {fields[0][:8]!r} with {len(fields)} fields"
        )
    try:
        return FindingRecord(
            destination_id=destination_id,
            object_id=object_id,
            state=State(fields[1]),
            severity=_opt_back(fields[2]),
            occurrence=int(fields[3]),
            last_ts_ns=int(fields[4]) if fields[4] else None,
            reference=_opt_back(fields[5]),
            incident_id=_opt_back(fields[6]),
            permalink=_opt_back(fields[7]),
            attempts=int(fields[8]),
            updated_at=float(fields[9]),
            created_at=float(fields[10]),
            last_error=_opt_back(fields[11]),
        )
    except ValueError as exc:
        raise CodecError(f"record {object_id[:80]}: {exc}") from exc
