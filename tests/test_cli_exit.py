"""The CLI leaves without the interpreter's teardown (orchestration.cli._exit_now); what a caller
sees must not change: the exit status, every line of output, the exit handlers, running threads."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_a_failing_command_exits_1_with_its_message(tmp_path):
    done = _python("from orchestration.cli import main; main()",
                   "sql", "select 1", "--db", str(tmp_path / "none.duckdb"))
    assert done.returncode == 1
    assert "no warehouse at" in done.stderr


def test_piped_output_is_complete_and_usage_errors_keep_status_2():
    help_text = _python("from orchestration.cli import main; main()", "--help")
    assert help_text.returncode == 0
    # the last command listed: the whole block reached the pipe before the process left
    assert "status" in help_text.stdout and help_text.stdout.rstrip().endswith("╯")
    unknown = _python("from orchestration.cli import main; main()", "no-such-command")
    assert unknown.returncode == 2
    assert "No such command" in unknown.stderr


def test_exit_handlers_run_and_a_running_thread_is_waited_for(tmp_path):
    marker, handler = tmp_path / "thread-finished", tmp_path / "handler-ran"
    done = _python(f"""
        import atexit, sys, threading, time
        from pathlib import Path
        from orchestration.cli import _exit_now

        atexit.register(lambda: Path({str(handler)!r}).write_text("yes"))
        # a non-daemon thread still working: the normal exit waits for it, so this one must too
        threading.Thread(target=lambda: (time.sleep(0.5), Path({str(marker)!r}).write_text("yes"))).start()
        print("buffered line", end="")
        _exit_now(3)
        sys.exit(3)
    """)
    assert done.returncode == 3
    assert done.stdout == "buffered line"
    assert marker.exists() and handler.exists()


def test_without_threads_the_process_leaves_at_once_with_the_status_and_handlers(tmp_path):
    handler = tmp_path / "handler-ran"
    done = _python(f"""
        import atexit
        from pathlib import Path
        from orchestration.cli import _exit_now

        atexit.register(lambda: Path({str(handler)!r}).write_text("yes"))
        print("buffered line", end="")
        _exit_now("a message")
        raise SystemExit("not reached: _exit_now left the process")
    """)
    assert done.returncode == 1
    assert done.stdout == "buffered line"
    assert done.stderr.strip() == "a message"  # what sys.exit("a message") prints
    assert handler.exists()
