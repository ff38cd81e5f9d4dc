"""botocore's JSON response parser, with the body walk compiled once per output shape.

botocore reads a ``json`` protocol response by walking the decoded body against
the output shape: for every node it looks up a handler by the shape's type name
and calls it, even for a string that it hands back unchanged. A DescribeServices
of ten services is about a thousand such nodes, and with a thousand services
read per drift check that walk is a large part of the reconciler's CPU.

Here the walk is planned once per output shape instead: each structure knows
which of its members are plain values (copied as they are, nulls and unknown
keys dropped, in one dict comprehension) and which need work (timestamps,
blobs, nested structures); lists and maps of plain values are returned as
decoded. What comes out is what botocore's parser returns. Anything unusual
(tagged unions, event streams, a type botocore has a handler for that this
module does not plan) is handed to a stock botocore parser for that subtree,
and everything around the body (errors, ``ResponseMetadata``, event streams,
the JSON decoding itself) is botocore's own code, inherited unchanged.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from typing import Any, cast

import botocore.parsers
import botocore.utils
from botocore.model import ListShape, MapShape, Shape, StructureShape

JSON_PROTOCOL = "json"

Converter = Callable[[Any], Any]
"""Turns a decoded JSON value into what botocore's parser returns for it."""


def epoch_or_text_timestamp(value: Any) -> datetime.datetime:
    """A timestamp as botocore would parse it, epoch seconds the cheap way.

    ECS, CodeDeploy and Application Auto Scaling send epoch seconds. botocore's
    own parser tries time zones from dateutil for each of them, which is half
    the CPU of reading a thousand services; text timestamps still go to it.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.UTC)
    return botocore.utils.parse_timestamp(value)


class ShapePlans:
    """Converters for output shapes, compiled on first use and kept for the client's life.

    One instance serves every parser a factory creates (botocore creates a
    parser per request), so a shape is planned once, not once per call.
    Shapes are keyed by identity: each client owns its service model, and an
    operation's output shape object lives as long as the client does.
    """

    def __init__(self, stock: botocore.parsers.ResponseParser) -> None:
        # The stock parser is both the source of the timestamp and blob parsers
        # botocore would use and the fallback for subtrees not planned here.
        self._stock: Any = stock
        self._plans: dict[Shape, Converter] = {}
        self._lock = threading.Lock()

    def converter(self, shape: Shape) -> Converter:
        """The converter for a response whose body has ``shape``."""
        plan = self._plans.get(shape)
        if plan is None:
            with self._lock:
                plan = self._plans.get(shape)
                if plan is None:
                    plan = _Compiler(self._stock).compile(shape) or _unchanged
                    self._plans[shape] = plan
        return plan


def _unchanged(value: Any) -> Any:
    return value


class _Compiler:
    """Plans one output shape; ``None`` stands for "the decoded value as it is"."""

    def __init__(self, stock: Any) -> None:
        self._stock = stock
        # By shape name: all shapes here come from one service model, and the
        # name-keyed memo is what lets a recursive shape refer to itself.
        self._structures: dict[str, Converter] = {}

    def compile(self, shape: Shape) -> Converter | None:
        type_name = shape.type_name
        if type_name == "structure":
            return self._structure(cast(StructureShape, shape))
        if type_name == "list":
            return self._list(cast(ListShape, shape))
        if type_name == "map":
            return self._map(cast(MapShape, shape))
        if type_name == "timestamp":
            parse_timestamp: Converter = self._stock._timestamp_parser
            return parse_timestamp
        if type_name == "blob":
            parse_blob: Converter = self._stock._blob_parser
            return parse_blob
        # botocore's rule for every other type: a handler named after it if the
        # parser has one, else the value unchanged (strings, numbers, booleans).
        if getattr(self._stock, f"_handle_{type_name}", None) is None:
            return None
        return self._botocore(shape)

    def _botocore(self, shape: Shape) -> Converter:
        """botocore's own walk for this subtree."""
        stock_parse = self._stock._parse_shape

        def convert(value: Any) -> Any:
            return stock_parse(shape, value)

        return convert

    def _structure(self, shape: StructureShape) -> Converter | None:
        if shape.is_document_type:
            return None  # botocore returns a document as decoded.
        if shape.is_tagged_union or shape.event_stream_name is not None:
            return self._botocore(shape)
        known = self._structures.get(shape.name)
        if known is not None:
            return known

        # (member name, JSON key) for every member, in the shape's order, which
        # is the order botocore builds the dict in; then the members whose
        # values need converting, rewritten in place so the order holds.
        keys: tuple[tuple[str, str], ...] = ()
        converted: tuple[tuple[str, Converter], ...] = ()

        def convert(value: Any) -> Any:
            if value is None:
                return None
            get = value.get
            parsed = {name: raw for name, key in keys if (raw := get(key)) is not None}
            for name, convert_member in converted:
                raw = parsed.get(name)
                if raw is not None:
                    parsed[name] = convert_member(raw)
            return parsed

        self._structures[shape.name] = convert
        members = shape.members
        keys = tuple(
            (name, member.serialization.get("name", name)) for name, member in members.items()
        )
        plans = ((name, self.compile(member)) for name, member in members.items())
        converted = tuple((name, plan) for name, plan in plans if plan is not None)
        return convert

    def _list(self, shape: ListShape) -> Converter | None:
        convert_item = self.compile(shape.member)
        if convert_item is None:
            return None

        def convert(value: Any) -> Any:
            # Null items stay null, as botocore treats every list as sparse.
            return [None if item is None else convert_item(item) for item in value]

        return convert

    def _map(self, shape: MapShape) -> Converter | None:
        convert_key = self.compile(shape.key)
        convert_value = self.compile(shape.value)
        if convert_key is None and convert_value is None:
            return None
        key_of = convert_key or _unchanged
        value_of = convert_value or _unchanged

        def convert(value: Any) -> Any:
            # Unlike a structure's members, a map's null values are converted
            # (and so kept), as botocore does.
            return {key_of(key): value_of(item) for key, item in value.items()}

        return convert


class PlannedJSONParser(botocore.parsers.JSONParser):
    """botocore's ``json`` protocol parser; only the walk of a decoded body is replaced."""

    def __init__(
        self,
        plans: ShapePlans,
        timestamp_parser: Callable[[str], Any] | None = None,
        blob_parser: Callable[[str], Any] | None = None,
    ) -> None:
        super().__init__(timestamp_parser=timestamp_parser, blob_parser=blob_parser)
        self._plans = plans

    def _handle_json_body(self, raw_body: bytes, shape: Shape) -> Any:
        # botocore's decoding (an undecodable body becomes {"message": body}),
        # then the planned walk in place of the per-node dispatch.
        decoded = self._parse_body_as_json(raw_body)  # type: ignore[attr-defined]
        return self._plans.converter(shape)(decoded)


class PlannedResponseParserFactory(botocore.parsers.ResponseParserFactory):
    """Creates :class:`PlannedJSONParser` for the ``json`` protocol, botocore's for the rest.

    Register it on a botocore session as its ``response_parser_factory``
    component before creating clients.
    """

    def __init__(self) -> None:
        super().__init__()
        self._json_parser_defaults: dict[str, Any] = {}
        self._plans = ShapePlans(botocore.parsers.JSONParser())

    def set_parser_defaults(self, **kwargs: Any) -> None:
        super().set_parser_defaults(**kwargs)
        self._json_parser_defaults.update(kwargs)
        # Plans hold the timestamp and blob parsers they were compiled with.
        self._plans = ShapePlans(botocore.parsers.JSONParser(**self._json_parser_defaults))

    def create_parser(self, protocol_name: str) -> botocore.parsers.ResponseParser:
        if protocol_name == JSON_PROTOCOL:
            return PlannedJSONParser(self._plans, **self._json_parser_defaults)
        return super().create_parser(protocol_name)
