"""A user's .npz is data: a plain .npy or a member whose header claims more than it holds is one
line, before anything is allocated (issue 23)."""

import io
import zipfile

import numpy as np
import pytest

from prunelab.data.npz import input_shape, load_npz
from prunelab.errors import PrunelabError


def test_a_plain_npy_named_npz_is_one_line(tmp_path):
    with open(tmp_path / "data.npz", "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(PrunelabError, match="is not an .npz"):
        load_npz(f"npz:{tmp_path / 'data.npz'}")


@pytest.mark.parametrize("read", [load_npz, input_shape])
def test_a_member_declaring_9_gib_is_refused_before_it_is_read(tmp_path, read):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 30,)})
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as archive:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            archive.writestr(f"{key}.npy", header.getvalue() + bytes(16))
    with pytest.raises(PrunelabError, match="declares 8,589,934,592 bytes of data but holds"):
        read(f"npz:{tmp_path / 'big.npz'}")


def test_an_honest_compressed_npz_still_loads(tmp_path):
    x, y = np.zeros((50, 8, 8), np.uint8), np.arange(50) % 3
    np.savez_compressed(tmp_path / "ok.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    assert load_npz(f"npz:{tmp_path / 'ok.npz'}").classes == 3
