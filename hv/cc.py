"""`hv cc`: compile and link a guest against the hv guest SDK with the system gcc.

    hv cc [-o OUT] [--linux] SOURCES... [gcc flags]

Sources are the arguments ending in .c, .S, .s or .o; every other argument is
handed to gcc unchanged.  The default target ("hv") links an ELF image for
`hv run` with the SDK's crt0 and linker script.  `--linux` links the same
sources as a static i386 Linux program instead, the real-CPU reference for
conformance tests.  The default output is `<first source stem>.elf` (or
`.linux`) in the current directory, and the default optimisation is -O2.

The SDK's crt0 and tiny libc are compiled with the guest's own flags
(optimisation level, defines), once per flag set: the objects are cached under
$HV_CACHE_DIR (default ~/.cache/hv).  The optional parts of the SDK
(interrupts, paging) go into a static archive linked last, so a guest links
them only if it uses them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "TARGETS",
    "CcError",
    "cache_root",
    "compile_guest",
    "main",
    "sdk_dir",
]

TARGETS = ("hv", "linux")
SOURCE_SUFFIXES = (".c", ".S", ".s", ".o")
OUTPUT_SUFFIX = {"hv": ".elf", "linux": ".linux"}

# Flags every guest needs: 32-bit freestanding code, linked statically at a
# fixed address, with none of the hosted-toolchain extras (stack protector,
# CET notes, unwind tables, build-id) that the guest environment cannot use.
BASE_FLAGS = (
    "-m32",
    "-march=i686",
    # Hosted, so that main() without a return statement returns 0 (C99
    # 5.1.2.2.3) and main's signature is checked, but with no builtins: GCC
    # must not turn the program's calls into calls the SDK does not expect.
    # Apart from main and __STDC_HOSTED__ this is exactly -ffreestanding.
    "-fhosted",
    "-fno-builtin",
    "-nostdlib",
    "-static",
    "-fno-pic",
    "-fno-pie",
    "-no-pie",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fcf-protection=none",
    "-Wl,--build-id=none",
    # GCC would turn the SDK's memset/memcpy loops back into calls to memset.
    "-fno-tree-loop-distribute-patterns",
    # Only the SDK's headers and GCC's freestanding ones: the host's glibc
    # headers are 64-bit and would not work in a guest anyway.
    "-nostdinc",
)

# The SDK's libc, linked into every guest after the user's sources.
SDK_LIBC = ("console.c", "libgcc.c", "printf.c", "runtime.c", "stdlib.c", "string.c",
            "testing.c")
# The rest of the C library (stdio streams, scanf, time.h, strings.h...) and
# libgcc's -ftrapv and complex-arithmetic helpers, in the archive: the same
# for both targets.
SDK_STDC = ("atexit.c", "stdio.c", "scanf.c", "strerror.c", "string_ext.c", "strings.c",
            "stdlib_ext.c", "time.c", "libgcc_trapv.c", "libgcc_complex.c")
# Floating point, for both targets: math.h (exact functions, exp/log/pow,
# trigonometry, hyperbolic), printf's %f %e %g %a and strtod, whose exact
# decimal conversions share bignum.c.
SDK_FLOAT = ("math_exact.c", "math_exp.c", "math_trig.c", "math_hyp.c", "printf_float.c",
             "strtod.c", "bignum.c")
# The optional parts of the SDK (interrupts, paging; hv_irq.h, hv_paging.h;
# the heap, qsort/bsearch, setjmp/longjmp, errno), per target.  They go into
# a static archive, libhvsdk.a, linked last: the linker takes a member only
# when a guest uses something in it (or a program defines its own), so a guest
# that does not is linked exactly as if the archive were not there.
SDK_ARCHIVE = {
    "hv": ("irq.c", "irq_entry.S", "paging.c", "heap.c", "sort.c", "setjmp.S", "errno.c",
           *SDK_STDC, *SDK_FLOAT),
    "linux": ("irq.c", "paging.c", "heap.c", "sort.c", "setjmp.S", "errno.c", *SDK_STDC,
              *SDK_FLOAT),
}
SDK_ARCHIVE_NAME = "libhvsdk.a"
SDK_CRT0 = {"hv": "crt0.S", "linux": "crt0_linux.S"}
TARGET_DEFINE = {"hv": "-DHV_TARGET_HV", "linux": "-DHV_TARGET_LINUX"}


class CcError(Exception):
    """A user-level failure of `hv cc`; str() is a one-line message.

    `diagnostics` holds gcc's output when compile_guest(capture=True) was used.
    """

    def __init__(self, message: str, diagnostics: str = "") -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


def sdk_dir() -> Path:
    """The directory holding hv_guest.h, crt0.S, link.ld and the libc sources."""
    try:
        resource = importlib.resources.files("hv.sdk")
    except ImportError:
        resource = None
    candidates = [Path(str(resource))] if resource is not None else []
    # Running from a source tree without installing: images/sdk next to hv/.
    candidates.append(Path(__file__).resolve().parent.parent / "images" / "sdk")
    for candidate in candidates:
        if (candidate / "hv_guest.h").is_file():
            return candidate
    raise CcError("guest SDK not found (looked for hv.sdk and images/sdk)")


def _compiler() -> str:
    """The C compiler to run: $HV_CC, or gcc."""
    return os.environ.get("HV_CC", "gcc")


@functools.cache
def _freestanding_include_dir(cc: str) -> str:
    """GCC's own header directory (stdint.h, stdarg.h, ...), needed with -nostdinc."""
    try:
        result = subprocess.run(
            [cc, "-print-file-name=include"], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise CcError(f"cannot run C compiler {cc!r}: {exc.strerror}") from None
    path = result.stdout.strip()
    if result.returncode != 0 or not os.path.isdir(path):
        raise CcError(f"C compiler {cc!r} did not report its include directory")
    return path


def _has_opt_flag(cflags: Iterable[str]) -> bool:
    return any(flag.startswith("-O") for flag in cflags)


def _target_flags(target: str, cflags: Sequence[str]) -> list[str]:
    """Every compiler flag for `target`, the user's last so they can override."""
    if target not in TARGETS:
        raise CcError(f"unknown target {target!r} (choose from {', '.join(TARGETS)})")
    cc = _compiler()
    sdk = sdk_dir()
    flags = [*BASE_FLAGS, "-isystem", _freestanding_include_dir(cc)]
    flags += ["-I", str(sdk), "-I", str(sdk / "include"), TARGET_DEFINE[target]]
    if not _has_opt_flag(cflags):
        flags.append("-O2")
    return flags + list(cflags)


def _link_command(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    cflags: Sequence[str],
    target: str,
    sdk_objects: Sequence[Path],
) -> list[str]:
    """The gcc command line that links `output` from `sources` and the compiled
    SDK (`sdk_objects`: crt0 first, so _start leads the text, then the libc,
    then the SDK archive)."""
    cmd = [_compiler(), *_target_flags(target, cflags)]
    if target == "hv":
        cmd += ["-T", str(sdk_dir() / "link.ld")]
    crt0, *libc = (str(obj) for obj in sdk_objects)
    return [*cmd, "-o", str(output), crt0, *(str(src) for src in sources), *libc]


def _check_inputs(sources: Sequence[str | os.PathLike[str]], cc: str) -> None:
    if not sources:
        raise CcError("no input files")
    for source in sources:
        if not Path(source).is_file():
            raise CcError(f"no such file: {source}")
    if shutil.which(cc) is None:
        raise CcError(f"C compiler {cc!r} not found (install gcc, or set HV_CC)")


def compile_guest(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    cflags: Sequence[str] = (),
    target: str = "hv",
    *,
    capture: bool = False,
) -> Path:
    """Compile and link `sources` with the SDK into `output`; return its path.

    `target` is "hv" (an image for `hv run`) or "linux" (a static i386 Linux
    program).  gcc's diagnostics go to stderr, or into CcError.diagnostics
    with capture=True.  The output appears atomically: a failed or
    interrupted build never leaves a partial file behind.  Raises CcError.
    """
    sources = list(sources)
    cflags = list(cflags)
    _check_inputs(sources, _compiler())
    sdk_objects = _sdk_objects(target, cflags, capture)
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp",
                                        dir=output.parent)
        os.close(fd)
    except OSError as exc:
        raise CcError(f"cannot write {output}: {exc.strerror}") from None
    try:
        link_inputs = list(sources)
        if target == "hv":
            link_inputs.append(_image_name_source(tmp_name, output.name))
        cmd = _link_command(link_inputs, tmp_name, cflags, target, sdk_objects)
        _run_gcc(cmd, ", ".join(str(source) for source in sources), capture)
        os.chmod(tmp_name, 0o755)
        os.replace(tmp_name, output)
    except OSError as exc:
        raise CcError(f"cannot write {output}: {exc.strerror}") from None
    finally:
        for leftover in (tmp_name, tmp_name + ".name.s"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return output


def _image_name_source(tmp_name: str, name: str) -> str:
    """Write an assembly file defining `hv_image_name`, the image's file name,
    which crt0 passes as argv[0] (an hv guest is not told the file it was
    loaded from); return its path."""
    safe = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+")
    escaped = "".join(chr(byte) if byte in safe else f"\\{byte:03o}"
                      for byte in os.fsencode(name))
    path = tmp_name + ".name.s"
    Path(path).write_text(
        '\t.section .rodata\n\t.globl hv_image_name\n\t.type hv_image_name, @object\n'
        f'hv_image_name:\n\t.asciz "{escaped}"\n'
        '\t.section .note.GNU-stack, "", @progbits\n')
    return path


# Standard C (and common POSIX) library functions, for the link-failure hint:
# an undefined reference to one of these means the SDK's libc lacks it.
LIBC_NAMES = frozenset("""
    abort atexit at_quick_exit quick_exit _Exit getenv system bsearch qsort div ldiv lldiv
    rand srand strtod strtof strtold atof atol atoll mblen mbtowc wctomb mbstowcs wcstombs
    aligned_alloc posix_memalign memalign valloc strdup strndup strerror strtok strtok_r
    strspn strcspn strpbrk strcoll strxfrm strcasecmp strncasecmp stpcpy strlcpy strlcat
    bzero bcopy bcmp index rindex ffs memccpy mempcpy memrchr
    fopen fclose fflush freopen fread fwrite fgetc fgets fputc fputs getc getchar gets putc
    ungetc fprintf vfprintf fscanf scanf sscanf vsscanf vscanf vfscanf fseek ftell rewind
    fgetpos fsetpos clearerr feof ferror perror remove rename tmpfile tmpnam setbuf setvbuf
    fileno fdopen popen pclose getline dprintf asprintf vasprintf
    time clock difftime mktime gmtime localtime asctime ctime strftime gettimeofday
    clock_gettime nanosleep sleep usleep
    signal raise longjmp setjmp sigsetjmp siglongjmp
    isalnum isalpha isblank iscntrl isdigit isgraph islower isprint ispunct isspace isupper
    isxdigit tolower toupper
    acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 frexp
    ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow sqrt erf erfc
    lgamma tgamma ceil floor nearbyint rint lrint llrint round lround llround trunc fmod
    remainder remquo copysign nan nextafter nexttoward fdim fmax fmin fma ilogb
    acosf asinf atanf atan2f cosf sinf tanf expf logf log10f powf sqrtf fabsf floorf ceilf
    roundf truncf fmodf frexpf ldexpf modff hypotf exp2f log2f fminf fmaxf copysignf
    sqrtl fabsl floorl ceill
    malloc calloc realloc free
""".split())


def _missing_libc(diagnostics: str) -> list[str]:
    """The libc functions a failed link found no definition of, sorted."""
    found: list[str] = []
    for match in re.finditer(r"undefined reference to [`'\"]([A-Za-z_][A-Za-z0-9_]*)", diagnostics):
        name = match.group(1)
        if name in LIBC_NAMES and name not in found:
            found.append(name)
    return sorted(found)


def _libc_hint(missing: list[str]) -> str:
    names = ", ".join(f"{name}()" for name in missing)
    return (f"hint: the SDK's libc has no {names} yet (docs/sdk.md lists what it has); "
            "define it in your program or link a library that does")


def _run_gcc(cmd: list[str], what: str, capture: bool) -> None:
    try:
        result = subprocess.run(
            cmd, stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else subprocess.PIPE, text=True, check=False,
        )
    except OSError as exc:
        raise CcError(f"cannot run C compiler {cmd[0]!r}: {exc.strerror}") from None
    diagnostics = result.stdout if capture else result.stderr
    if not capture and diagnostics:
        sys.stderr.write(diagnostics)       # gcc's messages as gcc printed them
    if result.returncode != 0:
        missing = _missing_libc(diagnostics or "")
        if missing:
            if not capture:
                sys.stderr.write(f"hv cc: {_libc_hint(missing)}\n")
            diagnostics = (diagnostics or "") + _libc_hint(missing) + "\n"
        raise CcError(
            f"compiling {what} failed (gcc exit status {result.returncode})",
            diagnostics=diagnostics if capture else "",
        )


# ---- The SDK object cache ------------------------------------------------------
#
# Compiling crt0 and the libc takes most of a guest build, and a build of all
# images repeats it for every guest with the same flags.  So the objects are
# kept in a cache directory keyed by everything that can change them: the
# compiler and its version, the target, the flags, and the SDK files' contents.


def cache_root() -> Path:
    """Where compiled SDK objects are kept: $HV_CACHE_DIR, else ~/.cache/hv."""
    if os.environ.get("HV_CACHE_DIR"):
        return Path(os.environ["HV_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hv"


@functools.cache
def _compiler_identity(cc: str) -> str:
    result = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    return f"{shutil.which(cc)}\n{result.stdout}"


def _cache_key(target: str, flags: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(_compiler_identity(_compiler()).encode())
    digest.update("\0".join([target, *flags]).encode())
    digest.update("\0".join(["archive", *SDK_ARCHIVE[target], "weak definitions"]).encode())
    sdk = sdk_dir()
    for path in sorted(sdk.rglob("*")):
        if path.is_file() and path.suffix in (".h", ".c", ".S"):
            digest.update(str(path.relative_to(sdk)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


_cache_lock = threading.Lock()
_key_locks: dict[str, threading.Lock] = {}


def _sdk_objects(target: str, cflags: list[str], capture: bool) -> list[Path]:
    """crt0, the libc objects and the SDK archive for this target and these
    flags, compiled once."""
    flags = _target_flags(target, cflags)
    key = _cache_key(target, flags)
    names = [SDK_CRT0[target], *SDK_LIBC]
    members = list(SDK_ARCHIVE[target])
    with _cache_lock:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:    # threads of one build share the work instead of racing
        entry = cache_root() / "sdk" / f"{target}-{key}"
        if not entry.is_dir():
            _fill_cache_entry(entry, names, members, flags, capture)
    return [*(entry / _object_name(name) for name in names), entry / SDK_ARCHIVE_NAME]


def _object_name(source: str) -> str:
    """irq_entry.S -> irq_entry.o (no SDK sources share a stem)."""
    return Path(source).stem + ".o"


def _archiver() -> str:
    """The archiver that makes libhvsdk.a: $HV_AR, or ar."""
    return os.environ.get("HV_AR", "ar")


def _weaken_definitions(path: Path) -> None:
    """Make every global symbol that the ELF32 object at `path` defines weak
    (what `objcopy --weaken` does, except that undefined symbols stay strong:
    a weak undefined reference would not pull its archive member in).  Then
    a program may define its own memcpy, strlen or malloc: the linker takes
    the program's, without "multiple definition"."""
    data = bytearray(path.read_bytes())
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    for k in range(shnum):
        sh_type, = struct.unpack_from("<I", data, shoff + k * shentsize + 4)
        if sh_type != 2:                                # SHT_SYMTAB
            continue
        offset, size = struct.unpack_from("<II", data, shoff + k * shentsize + 16)
        for sym in range(offset, offset + size, 16):    # Elf32_Sym
            info, shndx = data[sym + 12], struct.unpack_from("<H", data, sym + 14)[0]
            if info >> 4 == 1 and shndx != 0:           # STB_GLOBAL, defined
                data[sym + 12] = (2 << 4) | (info & 0xF)   # STB_WEAK
    path.write_bytes(data)


def _fill_cache_entry(entry: Path, names: list[str], members: list[str], flags: list[str],
                      capture: bool) -> None:
    """Compile into a scratch directory, then rename it into place atomically,
    so another process never sees a half-filled entry."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
    except OSError as exc:
        raise CcError(f"cannot create SDK cache in {entry.parent}: {exc.strerror}") from None
    try:
        sdk = sdk_dir()
        for name in [*names, *members]:
            obj = scratch / _object_name(name)
            _run_gcc([_compiler(), *flags, "-c", "-o", str(obj), str(sdk / name)],
                     f"the SDK's {name}", capture)
            if name not in SDK_CRT0.values():
                _weaken_definitions(obj)
        # D: deterministic (no timestamps or owners), so equal inputs give an
        # equal archive.
        _run_gcc([_archiver(), "rcsD", str(scratch / SDK_ARCHIVE_NAME),
                  *(str(scratch / _object_name(name)) for name in members)],
                 f"the SDK archive {SDK_ARCHIVE_NAME}", capture)
        try:
            os.rename(scratch, entry)
        except OSError:
            if not entry.is_dir():    # not just another process winning the race
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


USAGE = "usage: hv cc [-o OUT] [--linux] SOURCES... [gcc flags]"
HELP = f"""{USAGE}

Compile and link a guest with the hv guest SDK (#include <hv_guest.h>).

  -o OUT     output file (default: <first source stem>.elf, or .linux)
  --linux    build a static i386 Linux program (the real-CPU reference)
  SOURCES    arguments ending in .c .S .s .o
  other      passed to gcc unchanged (default optimisation: -O2)

The C compiler is $HV_CC if set, otherwise gcc.
"""


def _parse_args(argv: list[str]) -> tuple[list[str], str | None, list[str], str]:
    """Split argv into (sources, output, gcc flags, target)."""
    sources: list[str] = []
    flags: list[str] = []
    output: str | None = None
    target = "hv"
    args = iter(argv)
    for arg in args:
        if arg == "-o":
            output = next(args, None)
            if output is None:
                raise CcError("-o needs a file name")
        elif arg.startswith("-o") and len(arg) > 2:
            output = arg[2:]
        elif arg == "--linux":
            target = "linux"
        elif not arg.startswith("-") and arg.endswith(SOURCE_SUFFIXES):
            sources.append(arg)
        else:
            flags.append(arg)
    return sources, output, flags, target


def main(argv: list[str]) -> int:
    """Entry point for `hv cc ARGS` (argv excludes "cc"); returns the exit status."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(HELP, end="")
        return 0
    try:
        sources, output, flags, target = _parse_args(list(argv))
        if not sources:
            raise CcError(f"no input files ({USAGE})")
        if output is None:
            output = Path(sources[0]).stem + OUTPUT_SUFFIX[target]
        compile_guest(sources, output, flags, target)
    except CcError as exc:
        print(f"hv cc: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hv cc: error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
