"""Warm worker start on a node: a zygote that forks pytest workers already imported.

On a farm node Python runs on an emulated CPU, where starting a worker costs
seconds: the interpreter, `import pytest` (over a second by itself), the
plugin scan, and compiling the gateway code execnet sends.  A node restored
from a snapshot holds a zygote that paid all that once, before the save:

    python /run/farm-warm.py serve /run/farm-warm.sock

It imports pytest (and runs one collection of an empty directory, so the
modules pytest loads lazily are in too), execnet, and every module hv's
pytest plugin, pytest-xdist and farm's batch plugin pull in, except those
plugins' own packages: pytest rewrites the asserts of a plugin's modules as
it imports them, and warns about one already imported, so they are left for
the worker to import as always.

The worker's command, in the tx spec, is then this same file as a client:

    python -I -S /run/farm-warm.py -c CODE

which passes its stdin, stdout and stderr (the SSH session's pipes), its
argument, working directory and environment over the zygote's UNIX socket
and waits.  The zygote forks; the child takes the three descriptors, the
directory and environment, and runs CODE in a fresh `__main__` as `python -c`
would (so execnet's bootstrap runs unchanged); when it ends the client ends
with its exit status.  The client falls back to starting the real Python
itself, with the same arguments and its stdin untouched, whenever the zygote
cannot take the worker: no socket, a refusal, or any error.  The zygote
refuses (and starts itself again, fresh) once anything under its `sys.path`
directories changed since it started (hv upgraded by provisioning, say), and
refuses an environment that sets PYTHON* variables other than PYTHONUNBUFFERED
and PYTHONDONTWRITEBYTECODE (which it applies), and any other command line than
`[-u] [-B] -c CODE`.
"""

import os
import sys

# The client runs with -I -S: only builtin modules until it knows it can hand over.
MAGIC = b"farm-warm 1\0"
REFUSED, TAKEN = b"no", b"ok"


def _fallback(argv):
    os.execv(sys.executable, [sys.executable, *argv])


def client(path, argv):
    """Hand this process's worker to the zygote at `path`, or run it here."""
    import _socket
    env = dict(os.environb)
    flags = {"-u": b"PYTHONUNBUFFERED", "-B": b"PYTHONDONTWRITEBYTECODE"}
    at = 0
    while at < len(argv) and argv[at] in flags:   # what the variables do, as options
        env[flags[argv[at]]] = b"1"
        at += 1
    if argv[at:at + 1] != ["-c"] or len(argv) != at + 2:
        _fallback(argv)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        fields = [os.getcwdb(), os.fsencode(argv[at + 1])]
        fields += [k + b"=" + v for k, v in env.items()]
        payload = MAGIC + b"\0".join(fields)
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
        head = len(payload).to_bytes(4, "big")
        sock.sendmsg([head + payload], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        answer = b""
        while len(answer) < len(TAKEN):
            got = sock.recv(len(TAKEN) - len(answer))
            if not got:
                break
            answer += got
    except OSError:
        answer = b""
    if answer != TAKEN:
        sock.close()
        _fallback(argv)
    null = os.open(os.devnull, os.O_RDWR)     # the worker holds the session's pipes now
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    status = b""
    try:
        while True:
            got = sock.recv(16)
            if not got:
                break
            status += got
    except OSError:
        pass
    try:
        code = int(status.decode() or "1")
    except ValueError:
        code = 1
    os._exit(code & 0xFF)


# ---- the zygote (a normal Python, with site-packages) ----

def _marked_packages():
    """Top-level names of the distributions that carry pytest plugins (pytest marks
    them for assert rewriting, so they must not be imported here)."""
    import importlib.metadata
    names = set()
    for dist in importlib.metadata.distributions():
        plugins = [ep for ep in dist.entry_points if ep.group == "pytest11"]
        names.update(ep.value.split(":")[0].split(".")[0] for ep in plugins)
        if plugins:
            for file in dist.files or []:
                parts = str(file).split("/")
                if parts[0].endswith(".py"):
                    names.add(parts[0][:-3])
                elif len(parts) > 1 and parts[-1].endswith(".py"):
                    names.add(parts[0])
    return names


def _probe_modules(imports):
    """The modules a worker's plugins import, found in a forked child (so none of
    them is imported here)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            import importlib
            for name in imports:
                try:
                    importlib.import_module(name)
                except Exception:
                    pass
            os.write(write, "\n".join(sorted(sys.modules)).encode())
        finally:
            os._exit(0)
    os.close(write)
    chunks = []
    while True:
        got = os.read(read, 65536)
        if not got:
            break
        chunks.append(got)
    os.close(read)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode().split("\n")


PLUGIN_IMPORTS = ("hv.pytest_plugin", "farm.batch", "xdist.plugin", "xdist.looponfail",
                  "xdist.remote")


class Zygote:
    """The warm state: what is imported, and the compiled gateway code."""

    def __init__(self):
        self.gateway_source = ""
        self.gateway_code = None
        self.preloaded = 0

    def warm(self):
        import importlib
        import inspect
        import tempfile

        import execnet.gateway_base
        import pytest
        marked = _marked_packages() | {name.split(".")[0] for name in PLUGIN_IMPORTS}
        with tempfile.TemporaryDirectory() as empty:
            saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
            here = os.getcwd()
            try:
                os.chdir(empty)
                pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider",
                             "--rootdir", empty, empty])
            finally:
                os.chdir(here)
                if saved is None:
                    del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
                else:
                    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
        for name in _probe_modules(PLUGIN_IMPORTS):
            top = name.split(".")[0]
            if not name or top in marked or name in sys.modules or name.startswith("__"):
                continue
            try:
                importlib.import_module(name)
                self.preloaded += 1
            except Exception:
                pass
        importlib.metadata.entry_points()          # its directory listings, cached
        self.gateway_source = inspect.getsource(execnet.gateway_base)
        self.gateway_code = compile(self.gateway_source, "<string>", "exec")

    def run(self, source):
        """Run `python -c source` in this (forked) process, in a fresh __main__;
        returns the exit status."""
        import builtins
        import types
        main = types.ModuleType("__main__")
        main.__builtins__ = builtins
        sys.modules["__main__"] = main
        sys.argv[:] = ["-c"]
        if sys.path and sys.path[0] != "":
            sys.path[0] = ""
        try:
            if source == BOOTSTRAP_LINE:
                self._bootstrap(main.__dict__)
            else:
                exec(compile(source, "<string>", "exec"), main.__dict__)
            status = 0
        except SystemExit as exc:
            status = _exit_status(exc.code)
        except BaseException:
            import traceback
            traceback.print_exc()
            status = 1
        return status

    def _bootstrap(self, namespace):
        """execnet's bootstrap line (`exec(eval(sys.stdin.readline()))`), with the
        gateway module's code (the bulk of what it sends) compiled in the zygote."""
        source = eval(sys.stdin.readline())
        head = self.gateway_source + "\n"
        if self.gateway_code is None or not source.startswith(head):
            exec(source, namespace)
            return
        exec(self.gateway_code, namespace)
        # The rest, on the lines it has in the whole source (for its tracebacks).
        rest = "\n" * head.count("\n") + source[len(head):]
        exec(compile(rest, "<string>", "exec"), namespace)


#: execnet's command line for a Python it starts (execnet.gateway_io).
BOOTSTRAP_LINE = "import sys;exec(eval(sys.stdin.readline()))"


def _exit_status(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _stamp():
    """What must not change under a warm zygote: its sys.path directories."""
    stamp = []
    for entry in sys.path[1:]:
        try:
            stamp.append((entry, os.stat(entry).st_mtime_ns))
        except OSError:
            stamp.append((entry, None))
    return stamp


def _parse(payload):
    """(cwd, source, environ) from a client's request, or None."""
    if not payload.startswith(MAGIC):
        return None
    fields = payload[len(MAGIC):].split(b"\0")
    if len(fields) < 2:
        return None
    env = {}
    for item in fields[2:]:
        key, eq, value = item.partition(b"=")
        if not eq:
            return None
        env[key] = value
    return fields[0], os.fsdecode(fields[1]), env


def _recv_request(conn):
    """One request: its payload and the three descriptors, or (None, fds)."""
    import array
    import socket
    fds = array.array("i")
    data = b""
    need = None
    while need is None or len(data) < need + 4:
        chunk, anc, _flags, _addr = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * fds.itemsize),
                                                 getattr(socket, "MSG_CMSG_CLOEXEC", 0))
        for level, kind, blob in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(blob[:len(blob) - len(blob) % fds.itemsize])
        if not chunk:
            return None, list(fds)
        data += chunk
        if need is None and len(data) >= 4:
            need = int.from_bytes(data[:4], "big")
            if need > 1 << 20:
                return None, list(fds)
    return data[4:4 + need], list(fds)


def _reopen_stdio(unbuffered):
    """sys.stdin/stdout/stderr over descriptors 0, 1 and 2, as Python makes them
    (with PYTHONUNBUFFERED: output written through)."""
    import io

    def out(fd, errors, line):
        if unbuffered:
            raw = io.FileIO(fd, "w", closefd=False)
            return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, write_through=True)
        return open(fd, "w", encoding="utf-8", errors=errors, buffering=1 if line else -1,
                    closefd=False)

    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)
    sys.stdout = sys.__stdout__ = out(1, "strict", False)
    sys.stderr = sys.__stderr__ = out(2, "backslashreplace", True)


# The PYTHON* variables a forked worker can honour; any other refuses it.
_APPLIED = (b"PYTHONUNBUFFERED", b"PYTHONDONTWRITEBYTECODE")


def _worker(zygote, listener, conn, fds, cwd, source, env):
    """In the forked child: become the worker, then exit with its status."""
    import signal
    status = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        listener.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        _reopen_stdio(bool(env.get(b"PYTHONUNBUFFERED")))
        sys.dont_write_bytecode = bool(env.get(b"PYTHONDONTWRITEBYTECODE"))
        os.chdir(cwd)
        os.environ.clear()
        os.environb.update(env)
        conn.sendall(TAKEN)
        status = zygote.run(source)
        if "threading" in sys.modules:          # as the interpreter's own exit does
            sys.modules["threading"]._shutdown()
        import atexit
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    finally:
        try:
            conn.sendall(str(status).encode())
        except Exception:
            pass
        os._exit(status & 0xFF)


def serve(path):
    """The zygote's loop: warm up, then fork a worker for each client."""
    import signal
    import socket
    import time
    began = time.monotonic()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)       # an ignored one survives exec
    zygote = Zygote()
    zygote.warm()
    stamp = _stamp()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)       # children reap themselves
    print(f"farm-warm: ready in {time.monotonic() - began:.2f} s ({len(sys.modules)} modules, "
          f"{zygote.preloaded} for the plugins)", flush=True)
    while True:
        conn, _ = listener.accept()
        fds = []
        try:
            conn.settimeout(10)
            payload, fds = _recv_request(conn)
            request = _parse(payload) if payload is not None and len(fds) == 3 else None
            if request is None:
                conn.sendall(REFUSED)
                continue
            cwd, source, env = request
            if any(key.startswith(b"PYTHON") and key not in _APPLIED for key in env):
                conn.sendall(REFUSED)          # they would change how Python starts
                continue
            if _stamp() != stamp:              # something was installed: start afresh
                conn.sendall(REFUSED)
                print("farm-warm: sys.path changed; restarting", flush=True)
                listener.close()
                os.unlink(path)
                for fd in fds:                 # the client's: not the new zygote's
                    os.close(fd)
                os.execv(sys.executable, [sys.executable, *sys.argv])
            conn.settimeout(None)
            if os.fork() == 0:
                _worker(zygote, listener, conn, fds, cwd, source, env)
        except OSError as exc:
            print(f"farm-warm: {exc}", flush=True)
            try:
                conn.sendall(REFUSED)
            except OSError:
                pass
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            conn.close()


def main(argv):
    if len(argv) == 2 and argv[0] == "serve":
        serve(argv[1])
    else:
        client(os.environ.get("FARM_WARM_SOCKET", SOCKET), argv)


#: Where the zygote listens on a node.
SOCKET = "/run/farm-warm.sock"

if __name__ == "__main__":
    main(sys.argv[1:])
