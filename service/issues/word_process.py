"""A .docx converted in a child process with a time and a memory limit.

``check_zip`` bounds what a Word file unpacks to, and so, roughly, how long mammoth takes;
the child makes it a hard bound, whatever the XML is shaped like and however loaded the
machine is: the kernel refuses it memory past ``CONVERT_MEMORY_BYTES`` and the parent
kills it after ``CONVERT_SECONDS``. The web request (or the CLI) that imports a document
then waits at most that long and gets a clear error, never a stuck thread or a server out
of memory. The child limits itself first thing (``preexec_fn`` is unsafe in the threaded
web server). The admin sends a document with a large body to the worker first
(``import_jobs``), so the wait is the worker's, not a web thread's.

Used for documents being imported; a stored issue's original, which passed this once, is
converted in-process (``wordfile.docx_to_markdown``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from service.containers import DOCX_LIMITS, MB, ContainerError, check_zip
from service.errors import DomainError, Message
from service.issues.wordfile import WordConversionError, docx_to_markdown

# At the caps of DOCX_LIMITS a conversion takes 4–10 s on the production machine (2 cores,
# idle or busy; a real issue 1–3 s): 30 s leaves room and still answers the web request.
CONVERT_SECONDS = 30.0
# Address space of the child: the interpreter and mammoth ≈ 35 MB, a document at the caps
# peaks at ≈ 120 MB resident (measured); a bomb that slipped past them fails here, not the
# server.
CONVERT_MEMORY_BYTES = 1024 * MB
# Exit statuses of the child besides 0 (the Markdown on stdout).
EXIT_REFUSED = 2  # a domain error, as JSON on stdout
EXIT_OUT_OF_MEMORY = 3
_KINDS: dict[str, type[DomainError]] = {
    "word": WordConversionError,
    "container": ContainerError,
}
_ROOT = Path(__file__).resolve().parents[2]


def convert_in_child(data: bytes) -> str:
    """The Markdown of a .docx, converted by a child process (see the module docstring).

    Raises ``WordConversionError`` or ``ContainerError`` as ``docx_to_markdown`` does, and
    ``ContainerError`` when the child ran out of time or memory.
    """
    check_zip(data, DOCX_LIMITS)  # a known bomb is refused without starting a process
    # The child imports this very tree, whatever is installed in the environment.
    path = os.pathsep.join(p for p in (str(_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, str(CONVERT_MEMORY_BYTES)],
            input=data,
            capture_output=True,
            timeout=CONVERT_SECONDS,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed the child
        raise ContainerError(
            "container.too_slow",
            "reading the file took more than %(seconds)s seconds; split it into smaller files",
            seconds=f"{CONVERT_SECONDS:g}",
        ) from exc
    if done.returncode == 0:
        return done.stdout.decode("utf-8")
    if done.returncode == EXIT_REFUSED:
        answer = json.loads(done.stdout)
        raise _KINDS[answer["kind"]].carrying(Message.load(answer["message"]))
    if done.returncode == EXIT_OUT_OF_MEMORY:
        raise ContainerError(
            "container.too_much_memory",
            "reading the file needed more than %(mb)s MB of memory",
            mb=CONVERT_MEMORY_BYTES // MB,
        )
    # A crash of the child (a signal, a bug): its last line of stderr says what.
    last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
    raise WordConversionError(
        "word.unreadable",
        "the .docx file could not be read (%(error)s)",
        error=last[0][:300] if last else f"exit status {done.returncode}",
    )


def _child(memory_bytes: int) -> int:
    """The child's side: limit itself, convert stdin, answer on stdout."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        markdown = docx_to_markdown(sys.stdin.buffer.read())
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    except (WordConversionError, ContainerError) as exc:
        kind = "word" if isinstance(exc, WordConversionError) else "container"
        sys.stdout.write(json.dumps({"kind": kind, "message": exc.detail.dump()}))
        return EXIT_REFUSED
    sys.stdout.buffer.write(markdown.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(_child(int(sys.argv[1])))
