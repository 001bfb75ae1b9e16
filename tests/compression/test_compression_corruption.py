"""The reader refuses every damaged file with PrunelabError (one line), never another exception.

Two kinds of damage: accidents (a flipped bit, a truncated or extended file), which the CRCs and
framing catch; and lies told with valid CRCs (a forged header or section), which only the explicit
consistency checks can catch. ``join_file`` rebuilds a file with fresh CRCs to test the latter.
"""

import numpy as np
import pytest
from compression_helpers import AllocationBound, compact_model, join_file, split_file, two_layer_model, with_crc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prunelab.compression.container import CompressedModel
from prunelab.errors import PrunelabError

MODEL = two_layer_model()
DATA = MODEL.to_bytes()
HEADER, PAYLOADS = split_file(DATA)
QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def refused(data, match=None):
    with pytest.raises(PrunelabError, match=match) as caught:
        CompressedModel.from_bytes(data)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


def test_the_file_is_realistic_and_well_formed():
    assert len(DATA) > 4000 and sum(layer.size for layer in MODEL.layers) == 4500
    assert join_file(HEADER, PAYLOADS) == DATA  # the helpers speak the documented format


HALF = two_layer_model(fc_float_bits=16).to_bytes()  # format version 2: float16 fc1 floats
HALF_HEADER, HALF_PAYLOADS = split_file(HALF)


COMPACT_MODEL = compact_model()
COMPACT = COMPACT_MODEL.to_bytes()  # format version 3: one CRC-32 at the end instead of per section
VERSIONS = pytest.mark.parametrize("data", [DATA, HALF, COMPACT], ids=["version-1", "version-2", "version-3"])


@VERSIONS
@QUICK
@given(st.data())
def test_any_flipped_bit_is_refused(data, draw):
    bit = draw.draw(st.integers(0, 8 * len(data) - 1))
    damaged = bytearray(data)
    damaged[bit // 8] ^= 1 << (bit % 8)
    refused(bytes(damaged))


def test_version_2_headers_that_lie_are_refused():
    assert join_file(HALF_HEADER, HALF_PAYLOADS, version=2) == HALF
    layers = [dict(entry) for entry in HALF_HEADER["layers"]]
    all_32 = {**HEADER, "layers": [{**e, "float_bits": 32} for e in HEADER["layers"]]}
    refused(join_file(all_32, PAYLOADS, version=2), "written as version 1")
    eight = {**HALF_HEADER, "layers": [layers[0], {**layers[1], "float_bits": 8}]}
    refused(join_file(eight, HALF_PAYLOADS, version=2), "not 16 or 32")
    refused(join_file(HALF_HEADER, HALF_PAYLOADS, version=1), "expected fields")  # v1 has no float_bits
    refused(join_file(HEADER, PAYLOADS, version=2), "expected fields")  # v2 requires it
    wider = {**HALF_HEADER, "layers": [{**layers[0], "float_bits": 16}, layers[1]]}
    refused(join_file(wider, HALF_PAYLOADS, version=2), "its fields imply")  # conv1's sections are float32


@VERSIONS
@QUICK
@given(st.data())
def test_any_truncation_is_refused(data, draw):
    refused(data[:draw.draw(st.integers(0, len(data) - 1))])


@VERSIONS
@QUICK
@given(st.binary(min_size=1, max_size=64))
def test_any_appended_bytes_are_refused(data, extra):
    refused(data + extra)


@VERSIONS
def test_every_single_bit_flip_and_every_truncation_exhaustively(data):
    for bit in range(8 * len(data)):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(PrunelabError):
            CompressedModel.from_bytes(bytes(damaged))
    for length in range(len(data)):
        with pytest.raises(PrunelabError):
            CompressedModel.from_bytes(data[:length])


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "magic"),
        (b"PK\x03\x04" + DATA[4:], "magic"),
        (DATA[:8] + b"\x04\x00" + DATA[10:], "version 4"),
        (DATA[:10] + b"\x01\x00" + DATA[12:], "flags"),
        (DATA[:12] + b"\xff\xff\xff\xff" + DATA[16:], "truncated"),
    ],
)
def test_preamble_problems_are_named(data, match):
    refused(data, match)


def forged_layer(index, **changes):
    header = {**HEADER, "layers": [dict(entry) for entry in HEADER["layers"]]}
    header["layers"][index].update(changes)
    return header


LAYER_SECTIONS = 6  # codebook, weight lengths, index lengths, weight stream, index stream, bias
FC = LAYER_SECTIONS  # first section of the fc layer


def with_payload(number, payload):
    return [payload if i == number else p for i, p in enumerate(PAYLOADS)]


@pytest.mark.parametrize(
    "header, payloads, match",
    [
        (forged_layer(1, weight_count=401), PAYLOADS, "corrupt"),
        (forged_layer(1, index_count=10**12), PAYLOADS, "cannot hold"),
        (forged_layer(1, index_count=412), PAYLOADS, "corrupt"),
        (forged_layer(1, shape=[2**31, 2**31]), PAYLOADS, "more than 16,777,216 weights"),  # no giant allocation
        (forged_layer(1, shape=[50, 79]), PAYLOADS, "past the end|end before"),
        (forged_layer(1, centroids=31), PAYLOADS, "fields imply"),
        (forged_layer(1, code_bits=4), PAYLOADS, "not an integer in range"),
        (forged_layer(1, index_bits=9), PAYLOADS, "not an integer in range"),
        (forged_layer(1, bias_shape=None), PAYLOADS, "sections"),
        (forged_layer(1, shape=[]), PAYLOADS, "dimensions"),
        (forged_layer(1, shape=[50, 80.0]), PAYLOADS, "not an integer"),
        (forged_layer(1, name=HEADER["layers"][0]["name"]), PAYLOADS, "duplicate"),
        (forged_layer(1, extra=1), PAYLOADS, "expected fields"),
        ({**HEADER, "model": ""}, PAYLOADS, "model"),
        ({**HEADER, "metadata": []}, PAYLOADS, "metadata"),
        (HEADER, PAYLOADS[:-1], "truncated"),
        (HEADER, PAYLOADS + [b"xx"], "trailing"),
        (HEADER, with_payload(FC + 1, b"\x19" * 32), "Kraft|exceeds"),
        (HEADER, with_payload(FC + 1, b"\x01" * 32), "Kraft"),
        (HEADER, with_payload(FC + 2, bytes(32)), "empty code table"),
        (HEADER, with_payload(FC + 3, bytes(len(PAYLOADS[FC + 3]))), "left over|corrupt"),
        (HEADER, with_payload(FC + 4, b"\xff" * len(PAYLOADS[FC + 4])), "corrupt|past the end|left over"),
        (HEADER, with_payload(FC, np.full(32, np.nan, np.float32).tobytes()), "finite"),
    ],
)
def test_lies_told_with_valid_checksums_are_refused(header, payloads, match):
    with AllocationBound(1 << 22):
        refused(join_file(header, payloads), match)


@pytest.mark.parametrize(
    "text, match",
    [
        (b'{"dense": []}', "canonical"),  # a space after the colon
        (b'{"dense":[],"dense":[]}', "duplicate key"),
        (b'{"x":NaN}', "NaN"),
        (b'{"x":1e999}', "finite"),
        (b"[" * 100_000, "corrupt"),  # too deep: RecursionError inside json
        (b'{"dense":[],"layers":[],"metadata":{},"model":"\xff"}', "corrupt"),  # not ASCII
        (b'{"dense":[],"layers":[],"metadata":{}}', "expected fields"),
    ],
)
def test_header_must_be_canonical_checked_json(text, match):
    refused(join_file(None, PAYLOADS, text=text), match)


fields = st.sampled_from(["shape", "centroids", "code_bits", "index_bits", "weight_count", "index_count",
                          "sections"])
numbers = st.one_of(st.integers(-3, 5000), st.integers(0, 2**64), st.floats(allow_nan=False, allow_infinity=False))


@QUICK
@given(st.integers(0, 1), fields, numbers, st.integers(0, 5))
def test_any_forged_number_is_refused_or_harmless(layer, field, value, position):
    entry = HEADER["layers"][layer]
    if isinstance(entry[field], list):
        value = [value if i == position else v for i, v in enumerate(entry[field])]
    data = join_file(forged_layer(layer, **{field: value}), PAYLOADS)
    with AllocationBound(1 << 22):
        try:
            model = CompressedModel.from_bytes(data)
        except PrunelabError as exc:
            assert "\n" not in str(exc)
        else:  # accepted only if it is a genuine, self-consistent model (e.g. shape 80x50 for 50x80)
            assert model.to_bytes() == data


@QUICK
@given(st.integers(0, len(PAYLOADS) - 1), st.binary(max_size=300))
def test_any_forged_section_is_refused_or_harmless(number, payload):
    data = join_file(HEADER, with_payload(number, payload))
    try:
        model = CompressedModel.from_bytes(data)
    except PrunelabError as exc:
        assert "\n" not in str(exc)
    else:
        assert model.to_bytes() == data


# Version 3: lies told with a valid CRC-32, part by part (format_v3.layer_parts names the parts)

def compact_body(layer=None, **parts):
    """The version 3 file of ``COMPACT_MODEL`` with some parts of layer number ``layer`` replaced (the
    header parts "model", "metadata", "count" when ``layer`` is None), CRC-32 recomputed."""
    from prunelab.compression import format_v3
    from prunelab.compression.binary import text, varint

    model = COMPACT_MODEL
    head = {"preamble": COMPACT[:12], "model": text(model.model),
            "metadata": text(format_v3.metadata_text(model.metadata)), "count": varint(len(model.layers))}
    layers = [format_v3.layer_parts(l, model.kept[l.name]) for l in model.layers]
    (head if layer is None else layers[layer]).update(parts)
    return with_crc(b"".join([*head.values(), *(b for l in layers for b in l.values())]))


def settings_of(layer, flags=None, code_bits=None, index_bits=None, widths=None):
    old = format_v3_parts(layer)["settings"]
    new = [old[0] if flags is None else flags, old[1] if code_bits is None else code_bits,
           old[2] if index_bits is None else index_bits, old[3] if widths is None else widths]
    return bytes(new)


def format_v3_parts(layer):
    from prunelab.compression import format_v3

    entry = COMPACT_MODEL.layers[layer]
    return format_v3.layer_parts(entry, COMPACT_MODEL.kept[entry.name])


def test_the_forging_helper_writes_the_real_file():
    assert compact_body() == COMPACT


@pytest.mark.parametrize(
    "data, match",
    [
        (compact_body(model=b"\x00"), "non-empty"),
        (compact_body(metadata=b"\x0b{\"seed\": 0}"), "canonical"),
        (compact_body(metadata=b"\x02[]"), "object"),
        (compact_body(metadata=b"\x0a{\"x\":NaN}"), "NaN"),
        (compact_body(metadata=b"\x02\xff}"), "UTF-8"),
        (compact_body(count=b"\x04"), "truncated"),
        (compact_body(count=b"\x02"), "trailing"),
        (compact_body(count=b"\x83\x00"), "shortest form"),
        (compact_body(count=b"\xff\xff\xff\xff\x7f"), "shortest form|too long"),
        (compact_body(layer=1, name=b"\x05conv1"), "duplicate"),
        (compact_body(layer=0, name=b"\x00"), "non-empty"),
        (compact_body(layer=0, settings=settings_of(0, flags=0x0A)), "unknown layer flags"),
        (compact_body(layer=0, settings=settings_of(0, code_bits=17)), "out of range"),
        (compact_body(layer=0, settings=settings_of(0, code_bits=0)), "out of range"),
        (compact_body(layer=0, settings=settings_of(0, index_bits=9)), "out of range"),
        (compact_body(layer=0, settings=settings_of(0, widths=0x66)), "does not fit|wrong number|truncated"),
        (compact_body(layer=0, settings=settings_of(0, flags=0x02)), "truncated|imply|corrupt|trailing|wrong|shortest"),
        (compact_body(layer=0, shape=b"\x09" + b"\x01" * 9), "dimensions"),
        (compact_body(layer=0, shape=b"\x00"), "dimensions"),
        (compact_body(layer=0, shape=b"\x04\x06\x00\x03\x03"), "out of range"),
        (compact_body(layer=1, shape=b"\x02\x05\x19"), "cannot read"),  # 25 features from 6 channels
        (compact_body(layer=0, bitmap=b"\x3f"), "keeps 6 of 6"),
        (compact_body(layer=0, bitmap=b"\x00"), "keeps 0 of 6"),
        (compact_body(layer=0, bitmap=b"\x4d"), "padding"),
        (compact_body(layer=1, centroids=np.full(len(format_v3_parts(1)["centroids"]) // 2, np.inf,
                                                 np.float16).tobytes()), "finite"),
        (compact_body(layer=1, **{"weight lengths": b"\xff" * len(format_v3_parts(1)["weight lengths"])}),
         "Kraft|exceeds|shortest|padding"),
        (compact_body(layer=1, **{"weight stream": bytes(len(format_v3_parts(1)["weight stream"]))}),
         "left over|corrupt"),
        (compact_body(layer=1, **{"index stream": b"\xff" * len(format_v3_parts(1)["index stream"])}),
         "corrupt|past the end|left over"),
        (compact_body(layer=2, counts=b"\x05" + format_v3_parts(2)["counts"][1:]), "truncated|corrupt|trailing|wrong|table"),
        (compact_body(layer=2, counts=b"\x80\x80\x80\x80\x01" + format_v3_parts(2)["counts"][1:]), "out of range"),
        (compact_body()[:-5] + compact_body()[-4:], "CRC"),
        (with_crc(COMPACT[:-4][:-3]), "truncated"),
    ],
)
def test_version_3_lies_told_with_a_valid_crc_are_refused(data, match):
    with AllocationBound(1 << 22):
        refused(data, match)


@QUICK
@given(st.integers(12, len(COMPACT) - 5), st.integers(0, 255))
def test_any_forged_byte_of_a_version_3_file_is_refused_or_harmless(position, value):
    data = with_crc(COMPACT[:position] + bytes([value]) + COMPACT[position + 1 : -4])
    try:
        model = CompressedModel.from_bytes(data)
    except PrunelabError as exc:
        assert "\n" not in str(exc)
    else:  # accepted only if it is a genuine, self-consistent model
        assert model.to_bytes() == data
