"""tlog-tiles paths and formats, checked against the examples in c2sp.org/tlog-tiles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.merkle import (
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)
from tisa.ledger.proofs import verify_consistency, verify_inclusion
from tisa.ledger.tiles import (
    TILE_WIDTH,
    TiledNodeReader,
    TileRef,
    build_tile,
    encode_entry_bundle,
    format_tile_index,
    parse_entry_bundle,
    parse_tile,
    parse_tile_path,
    tile_bytes,
    tiles_for_size,
    verify_entry_bundle,
    verify_tiles,
)


def test_index_encoding_from_the_spec() -> None:
    # "index 1234067 will be encoded as x001/x234/067"
    assert format_tile_index(1234067) == "x001/x234/067"
    assert format_tile_index(0) == "000"
    assert format_tile_index(999) == "999"
    assert format_tile_index(1000) == "x001/000"


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        (TileRef(level=0, index=1234067), "tile/0/x001/x234/067"),
        (TileRef(level=1, index=5, width=17), "tile/1/005.p/17"),
        (TileRef(level=63, index=0, width=1), "tile/63/000.p/1"),
        (TileRef(level=None, index=273, width=112), "tile/entries/273.p/112"),
        (TileRef(level=None, index=1234067), "tile/entries/x001/x234/067"),
    ],
)
def test_paths_round_trip(ref: TileRef, path: str) -> None:
    assert ref.path == path
    assert parse_tile_path(path) == ref


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",
        "tile/0/x000/001",
        "tile/00/001",
        "tile/64/000",
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/017",
        "tile/0/x1234/001",
        "tile/0/001/",
        "tile/entries/001.p/",
        "/tile/0/001",
        "tile/0/../001",
        "tile/-1/001",
        "tile/0/001x",
    ],
)
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        parse_tile_path(path)


def test_tile_coordinates_from_the_spec_examples() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    # partial level 0 tile of width 112, one full level 1 tile, one partial level 1
    # tile of width 17, and one partial level 2 tile of width 1."
    refs = tiles_for_size(70_000)
    assert [r for r in refs if r.level == 0 and not r.is_partial] == [
        TileRef(level=0, index=i) for i in range(273)
    ]
    assert [r for r in refs if r.is_partial or r.level] == [
        TileRef(level=0, index=273, width=112),
        TileRef(level=1, index=0),
        TileRef(level=1, index=1, width=17),
        TileRef(level=2, index=0, width=1),
    ]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial
    # level 1 tile of width 1."
    assert tiles_for_size(256) == [TileRef(level=0, index=0), TileRef(level=1, index=0, width=1)]
    assert tiles_for_size(0) == []
    bundles = tiles_for_size(70_000, entries=True)
    assert bundles[-1] == TileRef(level=None, index=273, width=112)
    assert len(bundles) == 274


def test_entry_bundles_are_uint16_length_prefixed() -> None:
    data = encode_entry_bundle([b"", b"a", b"bc"])
    assert data == b"\x00\x00\x00\x01a\x00\x02bc"
    assert parse_entry_bundle(data, 3) == [b"", b"a", b"bc"]
    for bad in [b"\x00", b"\x00\x05abc", b""]:
        with pytest.raises(InvalidInput):
            parse_entry_bundle(bad)
    with pytest.raises(InvalidInput):
        parse_entry_bundle(data, 2)
    with pytest.raises(InvalidInput):
        encode_entry_bundle([b"x" * 65536])


def test_tiles_from_a_tree_back_proofs() -> None:
    size = 70_000
    tree = MerkleTree(leaf_hash(i.to_bytes(4, "big")) for i in range(size))
    served = {(r.level, r.index, r.width): build_tile(tree.node, r) for r in tiles_for_size(size)}
    # Level-1 hashes are the roots of full level-0 tiles.
    assert parse_tile(served[(1, 0, 256)], 256)[3] == tree.node(8, 3)

    def read(level: int, index: int, width: int) -> bytes:
        return served[(level, index, width)]

    reader = TiledNodeReader(read, size)
    for level, index in [(0, 69_999), (3, 17), (8, 272), (9, 135), (15, 1), (16, 0)]:
        assert reader(level, index) == tree.node(level, index)
    for index in (0, 255, 256, 65_535, 65_536, 69_888, 69_999):
        proof = tree.inclusion_proof(index)
        assert inclusion_proof(reader, index, size) == proof
        verify_inclusion(index, size, tree.node(0, index), proof, tree.root())
    assert consistency_proof(reader, 1000, size) == tree.consistency_proof(1000)
    verify_consistency(1000, size, tree.root(1000), tree.root(), tree.consistency_proof(1000))
    with pytest.raises(InvalidInput):
        reader(0, size)


def test_tile_bytes_validation() -> None:
    assert len(tile_bytes([bytes(32)] * TILE_WIDTH)) == 8192
    for bad in ([], [bytes(32)] * 257, [bytes(31)]):
        with pytest.raises(InvalidInput):
            tile_bytes(bad)
    with pytest.raises(InvalidInput):
        parse_tile(bytes(33), 1)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=256))
def test_any_tile_path_round_trips(index: int, width: int) -> None:
    for level in (None, 0, 7):
        ref = TileRef(level=level, index=index, width=width)
        assert parse_tile_path(ref.path) == ref


@settings(max_examples=100)
@given(st.data())
def test_any_flipped_byte_in_a_stored_tile_changes_the_root(data: st.DataObject) -> None:
    size = 700
    tree = MerkleTree(leaf_hash(i.to_bytes(4, "big")) for i in range(size))
    served = {(r.level, r.index, r.width): build_tile(tree.node, r) for r in tiles_for_size(size)}
    key = data.draw(st.sampled_from(sorted(served, key=str)))
    raw = bytearray(served[key])
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    served[key] = bytes(raw)
    with pytest.raises((InvalidInput, VerificationError)):
        verify_tiles(lambda lv, ix, w: served[(lv, ix, w)], size, tree.root())


def test_verify_tiles_and_bundles() -> None:
    for size in (0, 1, 255, 256, 257, 65_536, 70_000):
        entries = [i.to_bytes(4, "big") for i in range(size)]
        tree = MerkleTree(leaf_hash(e) for e in entries)
        served = {
            (r.level, r.index, r.width): build_tile(tree.node, r) for r in tiles_for_size(size)
        }
        assert verify_tiles(lambda lv, ix, w, s=served: s[(lv, ix, w)], size, tree.root()) == len(
            served
        )
        with pytest.raises(VerificationError):
            verify_tiles(lambda lv, ix, w, s=served: s[(lv, ix, w)], size, bytes(32))
    bundle = encode_entry_bundle(entries[:256])
    assert verify_entry_bundle(bundle, served[(0, 0, 256)], 256) == entries[:256]
    with pytest.raises(VerificationError):
        verify_entry_bundle(encode_entry_bundle(entries[1:257]), served[(0, 0, 256)], 256)
