"""parse_sha256sums: strict parsing of the archive's SHA256SUMS; a bad index is an error, never a guess."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from pxeimport.trust import ChecksumIndexError, parse_sha256sums
from tests.support.requirements import require_tool

A = "a" * 64
B = "b" * 64
C = "0123456789abcdef" * 4


def test_maps_each_path_to_its_hash():
    text = f"{A}  netboot/linux\n{B}  netboot/initrd.gz\n"
    assert parse_sha256sums(text) == {"netboot/linux": A, "netboot/initrd.gz": B}


def test_strips_a_leading_dot_slash():
    assert parse_sha256sums(f"{A}  ./netboot/ubuntu-installer/amd64/linux\n") == {
        "netboot/ubuntu-installer/amd64/linux": A
    }


def test_accepts_the_binary_marker():
    assert parse_sha256sums(f"{A} *./netboot/pxelinux.0\n") == {"netboot/pxelinux.0": A}


def test_ignores_empty_and_comment_lines():
    text = f"\n{A}  one\n\n# made by hand\n\r\n{B}  two\n\n"
    assert parse_sha256sums(text) == {"one": A, "two": B}


@pytest.mark.parametrize("blank", ["   ", "\t", " \r"])
def test_a_line_of_only_blanks_is_malformed_as_sha256sum_strict_says(blank):
    with pytest.raises(ChecksumIndexError, match="line 2 is not"):
        parse_sha256sums(f"{A}  one\n{blank}\n")


def test_accepts_crlf_line_endings_without_a_carriage_return_in_the_path():
    entries = parse_sha256sums(f"{A}  ./one\r\n{B}  ./two\r\n")
    assert entries == {"one": A, "two": B}


def test_lower_cases_an_upper_case_hash():
    assert parse_sha256sums(f"{C.upper()}  file\n") == {"file": C}


def test_an_empty_index_lists_nothing():
    assert parse_sha256sums("") == {}


def test_the_same_path_twice_with_the_same_hash_is_accepted():
    text = f"{A}  ./netboot/linux\n{A}  netboot/linux\n"
    assert parse_sha256sums(text) == {"netboot/linux": A}


def test_the_same_hash_in_another_case_counts_as_the_same_hash():
    text = f"{C}  file\n{C.upper()}  ./file\n"
    assert parse_sha256sums(text) == {"file": C}


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("not a checksum line", id="prose"),
        pytest.param(f"{A[:-1]}  short-hash", id="63-hex-digits"),
        pytest.param(f"{A}a  long-hash", id="65-hex-digits"),
        pytest.param(f"{'g' * 64}  not-hex", id="not-hex"),
        pytest.param(f"{A} single-space", id="one-space"),
        pytest.param(f"{A}  ", id="no-path"),
        pytest.param(A, id="hash-only"),
        pytest.param(f"{A}\t\\nfile", id="backslash-not-escaped-line"),
        pytest.param(f"SHA256 (file = {A}", id="tag-without-paren"),
        pytest.param(f"SHA256 (file) {A}", id="tag-without-equals"),
        pytest.param(f"SHA512 (file) = {A}", id="other-tag"),
        pytest.param(f"{A}\tfile", id="tab"),
    ],
)
def test_a_malformed_line_is_refused_naming_the_line(line):
    text = f"{B}  ./fine\n{line}\n"
    with pytest.raises(ChecksumIndexError) as caught:
        parse_sha256sums(text, source="http://mirror/images/SHA256SUMS")
    message = str(caught.value)
    assert message.startswith("http://mirror/images/SHA256SUMS: line 2 ")
    assert "is not '<sha256>  <path>'" in message


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("../outside", id="parent"),
        pytest.param("./../outside", id="dot-slash-parent"),
        pytest.param("netboot/../../outside", id="parent-inside"),
        pytest.param("netboot/..", id="trailing-parent"),
        pytest.param("netboot\\linux", id="backslash"),
        pytest.param("..\\outside", id="backslash-parent"),
        pytest.param("netboot//linux", id="empty-component"),
        pytest.param("netboot/./linux", id="dot-component"),
        pytest.param("netboot/", id="trailing-slash"),
        pytest.param("./", id="dot-slash-only"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dot-dot"),
        pytest.param("net\x00boot", id="nul"),
    ],
)
def test_an_unsafe_path_is_refused_naming_the_line(path):
    text = f"{B}  ./fine\n\n{A}  {path}\n"
    with pytest.raises(ChecksumIndexError) as caught:
        parse_sha256sums(text, source="idx")
    assert str(caught.value).startswith("idx: line 3 has an unsafe path")


def test_one_path_listed_twice_with_different_hashes_is_refused_naming_the_line():
    text = f"{A}  ./netboot/linux\n{B}  ./other\n{B}  netboot/linux\n"
    with pytest.raises(ChecksumIndexError) as caught:
        parse_sha256sums(text, source="idx")
    message = str(caught.value)
    assert message.startswith("idx: line 3 ")
    assert "'netboot/linux' again with another hash" in message


def test_the_default_source_in_messages_is_sha256sums():
    with pytest.raises(ChecksumIndexError, match=r"^SHA256SUMS: line 1 "):
        parse_sha256sums("garbage\n")


def test_line_numbers_count_blank_lines():
    with pytest.raises(ChecksumIndexError, match=r": line 4 "):
        parse_sha256sums(f"\n{A}  ok\n\ngarbage\n")


def test_a_very_long_bad_line_is_cut_short_in_the_message():
    with pytest.raises(ChecksumIndexError) as caught:
        parse_sha256sums("x" * 10_000)
    assert len(str(caught.value)) < 200


def test_checksum_index_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_sha256sums("garbage")


# What GNU coreutils' sha256sum -c accepts: each case with the right value, and real sha256sum agreeing.
FILES = {"one": b"1", " one": b"1", "two": b"2", " two": b"2", "o\nne": b"3", "x y": b"4"}
H = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}
H1, H2, H3 = H["one"], H["two"], H["o\nne"]

AS_SHA256SUM_READS_IT = [
    pytest.param(f"{H1}  one\n", {"one": H1}, id="text-marker"),
    pytest.param(f"{H1} *one\n", {"one": H1}, id="binary-marker"),
    pytest.param(f"{H1} one\n{H2} two\n", {"one": H1, "two": H2}, id="one-space-reversed"),
    pytest.param(f"{H1}\tone\n", {"one": H1}, id="one-tab-reversed"),
    pytest.param(f"{H1}\t*one\n", {"one": H1}, id="tab-then-binary-marker"),
    pytest.param(f"{H1}\t one\n", {"one": H1}, id="tab-then-text-marker"),
    pytest.param(f"  \t{H1}  one\n", {"one": H1}, id="leading-blanks"),
    pytest.param(f"{H1}  one\r\n{H2}  two\r\n", {"one": H1, "two": H2}, id="crlf"),
    pytest.param(f"{H1.upper()}  one\n", {"one": H1}, id="upper-case-hash"),
    pytest.param(f"{H1}   one\n", {" one": H1}, id="three-spaces-keep-one-in-the-name"),
    pytest.param(f"{H['x y']}  x y\n", {"x y": H["x y"]}, id="blank-inside-the-name"),
    pytest.param(f"{H1} one\n{H2}  two\n", {"one": H1, " two": H2}, id="reversed-file-keeps-the-blank"),
    pytest.param(f"\\{H3}  o\\nne\n", {"o\nne": H3}, id="escaped-newline"),
    pytest.param(f"SHA256 (one) = {H1}\n", {"one": H1}, id="tagged"),
    pytest.param(f"SHA256(one)= {H1}\n", {"one": H1}, id="tagged-openssl-style"),
    pytest.param(f"# a comment\n{H1}  one\n", {"one": H1}, id="comment"),
    pytest.param(f"{H1}  one\n{H2} two\n", None, id="reversed-after-standard"),
    pytest.param(f"{H1}  one\n   \n", None, id="blank-line"),
    pytest.param(f"\\{H3}  o\\tne\n", None, id="unknown-escape"),
    pytest.param(f"{H1}\n", None, id="hash-only"),
    pytest.param(f"{H1[:-1]}  one\n", None, id="63-digits"),
    pytest.param(f"{H1}x  one\n", None, id="65-characters"),
    pytest.param(f"{H1}\v one\n", None, id="vertical-tab-is-no-separator"),
]


@pytest.mark.parametrize(("text", "expected"), AS_SHA256SUM_READS_IT)
def test_lines_are_read_as_gnu_sha256sum_reads_them(text, expected):
    if expected is None:
        with pytest.raises(ChecksumIndexError):
            parse_sha256sums(text)
    else:
        assert parse_sha256sums(text) == expected


@pytest.mark.parametrize(("text", "expected"), AS_SHA256SUM_READS_IT)
def test_real_sha256sum_check_agrees(text, expected, tmp_path):
    require_tool("sha256sum")
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "SUMS").write_bytes(text.encode())
    checked = subprocess.run(
        ["sha256sum", "--check", "--strict", "--status", "SUMS"], cwd=tmp_path, capture_output=True, check=False
    )
    assert (checked.returncode == 0) == (expected is not None), checked.stderr


def test_an_escaped_name_with_a_backslash_is_still_an_unsafe_path():
    with pytest.raises(ChecksumIndexError, match="unsafe path"):
        parse_sha256sums(f"\\{A}  net\\\\boot\n")
