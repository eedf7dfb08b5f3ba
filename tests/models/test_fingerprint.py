"""The GGUF file fingerprint that stands for the weights in cache keys."""


def test_gguf_fingerprint_tells_apart_files_edited_in_the_middle(tmp_path):
    import os

    from assay.models.llama_cpp import file_fingerprint

    blob = bytearray(os.urandom(64 << 20))
    (tmp_path / "a.gguf").write_bytes(blob)
    blob[30 << 20 : 50 << 20] = os.urandom(20 << 20)  # same size, same ends
    (tmp_path / "b.gguf").write_bytes(blob)
    assert file_fingerprint(tmp_path / "a.gguf") != file_fingerprint(tmp_path / "b.gguf")
    assert file_fingerprint(tmp_path / "a.gguf") == file_fingerprint(tmp_path / "a.gguf")
