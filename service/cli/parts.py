"""The parts of the service, one command each: ``up`` (everything on this machine), and
``web``, ``worker``, ``beat`` for production (the bounce listener is in ``events``)."""

from __future__ import annotations

import os
import sys

import click

from service.cli.common import startup_settings
from service.config import Settings

group = click.Group("parts")


@group.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Web server address.")
@click.option("--port", default=8000, show_default=True, help="Web server port.")
@click.option("--no-demo", is_flag=True, help="Do not load the demo on an empty database.")
def up(host: str, port: int, no_demo: bool) -> None:
    """Run the whole service on this machine: web, worker, beat, Redis and SMTP capture."""
    from service.cli.up import run_up

    sys.exit(run_up(startup_settings(), host=host, port=port, load_demo_data=not no_demo))


@group.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, help="Threads per worker.")
def web(host: str, port: int, workers: int, threads: int) -> None:
    """Run the web server (gunicorn)."""
    settings = startup_settings()  # fail early, with the variable's name, before gunicorn starts
    from gunicorn.app.wsgiapp import run

    from service.processes import SUPERVISOR_PID_VARIABLE, follow_supervisor

    follow_supervisor()
    if not settings.base_url_explicit and not os.environ.get(SUPERVISOR_PID_VARIABLE):
        _follow_served_port(settings, host, port)
    sys.argv = [
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "10",
        "service.web.wsgi:app",
    ]
    run()


def _follow_served_port(settings: Settings, host: str, port: int) -> None:
    """With TIDINGS_BASE_URL unset, links in mail point at the port this web serves: the
    app (loaded by gunicorn after this) reads it from the environment, commands in other
    shells and the worker from the runtime record (``service.runtime``)."""
    import atexit

    from service import runtime

    base_url = runtime.served_base_url(host, port)
    os.environ["TIDINGS_BASE_URL"] = base_url
    runtime.publish(settings.data_dir, **{runtime.BASE_URL: base_url})
    atexit.register(runtime.withdraw, settings.data_dir)
    click.echo(f"Public URL: {base_url} (links in mail; set TIDINGS_BASE_URL to change it)")


@group.command()
@click.option(
    "--concurrency",
    "-c",
    default=None,
    type=int,
    help="Worker processes (default: number of CPU cores).",
)
@click.option("--queues", "-Q", default="send,events,default", show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int | None, queues: str, loglevel: str) -> None:
    """Run a Celery worker. Start as many as you like, on any machine."""
    startup_settings()
    from worker.app import celery

    argv = [
        "worker",
        "--queues",
        queues,
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    celery.worker_main(argv)


@group.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run the periodic scheduler. Run exactly one in a deployment."""
    settings = startup_settings()
    from service.processes import follow_supervisor
    from worker.app import celery

    follow_supervisor()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery.start(
        [
            "beat",
            "--loglevel",
            loglevel,
            "--schedule",
            str(settings.data_dir / "celerybeat-schedule"),
        ]
    )
