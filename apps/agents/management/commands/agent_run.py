"""`manage.py agent_run NAME "prompt"`: run an agent as a user, through the services (a conversation, a message), and
print its answer as it streams, with each tool call and its result as it happens.

The run is executed where every run is: by the execute_agent_run task, inline when its transaction commits with
the immediate backend (development without Redis), by a worker with ReArq. Either way this command follows the
run's events (RunEvent rows) as they are written: a thread reads them while the services run the agent in this
one; afterwards (or while a worker runs it) this thread reads the rest. Ctrl-C cancels the run (a second one quits
at once)."""

from __future__ import annotations

import json
import signal
import threading
import time
from types import FrameType
from typing import IO, Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction
from django.urls import reverse
from rich.console import Console
from rich.text import Text

from apps.agents import services
from apps.agents.exceptions import AgentsError, RunNotCancellable
from apps.agents.models import AgentDefinition, AgentRun, Conversation, RunStatus, ToolCall, ToolCallStatus
from apps.agents.selectors import conversation_get, may_run, run_events_after
from cfg.management.base import ProjectCommand
from modules.llm.exceptions import LlmError

POLL_SECONDS = 0.1
# A run still queued after this long is waiting for a worker: say so once.
WORKER_HINT_SECONDS = 5.0
# A settled run whose last status event has not come after this many polls is taken as settled all the same.
QUIET_POLLS = 10
SETTLED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.WAITING_FOR_APPROVAL}
EXCERPT_CHARS = 160


def _compact(value: Any, width: int = EXCERPT_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


class Follower:
    """Prints one run's events in order, from whichever thread polls (one at a time)."""

    def __init__(self, command: BaseCommand, conversation_id: int, after_run_id: int) -> None:
        self.stdout = command.stdout
        self.console = Console(file=cast(IO[str], command.stdout), width=120, highlight=False)
        self.conversation_id = conversation_id
        self.after_run_id = after_run_id
        self.run_id: int | None = None
        self.seq = 0
        self.status = ""
        self.in_text = False
        self.text_seen = False
        self.interrupted = threading.Event()
        self.cancel_sent = False
        self._stop = threading.Event()

    # What the thread does while the services run the agent in the main thread.

    def watch(self) -> None:
        try:
            while not self._stop.wait(POLL_SECONDS):
                self.poll()
                self.cancel_if_interrupted()
        except Exception as error:  # the main thread reads what this one could not
            self.console.print(Text(f"(live output stopped: {error})", style="dim"))
        finally:
            connections.close_all()  # this thread's own connections

    def stop(self) -> None:
        self._stop.set()

    # Both threads.

    def poll(self) -> None:
        if self.run_id is None:
            self.run_id = (
                AgentRun.objects.filter(conversation_id=self.conversation_id, pk__gt=self.after_run_id)
                .order_by("pk")
                .values_list("pk", flat=True)
                .first()
            )
            if self.run_id is None:
                return
        for event in run_events_after(run_id=self.run_id, after=self.seq):
            self.seq = event.seq
            self.show(event.kind, event.data)

    def cancel_if_interrupted(self) -> None:
        if not self.interrupted.is_set() or self.cancel_sent or self.run_id is None:
            return
        self.cancel_sent = True
        self.end_text()
        try:
            services.run_cancel(run=AgentRun.objects.get(pk=self.run_id))
        except RunNotCancellable:
            return
        self.console.print(Text("Interrupted: cancelling the run (Ctrl-C again quits at once)…", style="yellow"))

    @property
    def settled(self) -> bool:
        return self.status in SETTLED

    def show(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "text":
            self.stdout.write(str(data.get("delta", "")), ending="")
            self.stdout.flush()
            self.in_text = self.text_seen = True
        elif kind == "tool_call":
            self.line(f"→ {data.get('tool')}({_compact(data.get('arguments', {}))})", "cyan")
        elif kind == "tool_result":
            outcome = data.get("outcome", "success")
            style = "green" if outcome == "success" else "red"
            self.line(f"← {data.get('tool')}: {outcome} · {_compact(data.get('content', ''))}", style)
        elif kind == "approval_request":
            call = f"{data.get('tool')}({_compact(data.get('arguments', {}))})"
            self.line(f"⏸ {call} needs approval (tool call #{data.get('tool_call')})", "yellow")
        elif kind == "approval_decision":
            self.line(f"{data.get('decision')}: {data.get('tool')} (tool call #{data.get('tool_call')})", "yellow")
        elif kind == "result":
            output = data.get("output")
            if isinstance(output, str) and not self.text_seen:
                self.stdout.write(output, ending="")
                self.in_text = True
            elif output is not None and not isinstance(output, str):
                self.end_text()
                self.console.print(Text(json.dumps(output, ensure_ascii=False, indent=2)))
        elif kind == "status":
            self.status = str(data.get("status", ""))

    def line(self, text: str, style: str) -> None:
        self.end_text()
        self.console.print(Text(text, style=style), soft_wrap=True)  # one line each: the terminal wraps it

    def end_text(self) -> None:
        if self.in_text:
            self.stdout.write("")  # the newline that ends the streamed text
            self.in_text = False


class Command(ProjectCommand):
    help = (
        "Run an agent as a user and print its answer as it streams, with each tool call. A run that stops for a "
        "staff decision says which calls wait and how to approve them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The agent's name (its slug)")
        parser.add_argument("prompt", help="The message to the agent")
        parser.add_argument("--user", metavar="EMAIL", help="Run as this user (default: the first active superuser)")
        parser.add_argument(
            "--conversation",
            type=int,
            metavar="ID",
            help="Continue this conversation of the user's (default: a new one)",
        )
        parser.add_argument(
            "--wait",
            type=float,
            metavar="SECONDS",
            help="How long to wait for a worker to run it (default: AGENTS__RUN_TIMEOUT + 60)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        prompt = options["prompt"].strip()
        if not prompt:
            raise CommandError("the prompt is empty")
        user = self._user(options["user"])
        agent = self._agent(options["name"], user)
        conversation = self._conversation(options["conversation"], user, agent)
        wait = options["wait"] if options["wait"] is not None else settings.AGENTS["RUN_TIMEOUT"] + 60

        previous = conversation.runs.order_by("-pk").values_list("pk", flat=True).first() if conversation else None
        follower = Follower(self, conversation.pk if conversation else 0, previous or 0)
        # Ctrl-C cancels the run (signal handlers belong to the main thread: called from another, it has none).
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous_handler = signal.getsignal(signal.SIGINT)
        if in_main_thread:
            signal.signal(signal.SIGINT, self._interrupt_handler(follower))
        try:
            run = self._post(follower, conversation, user, agent, prompt)
            self._follow(follower, run, wait)
        finally:
            if in_main_thread:
                signal.signal(signal.SIGINT, previous_handler)
        self._report(follower, AgentRun.objects.defer("messages").get(pk=run.pk))

    def _post(
        self, follower: Follower, conversation: Conversation | None, user: Any, agent: AgentDefinition, prompt: str
    ) -> AgentRun:
        """Post the message through the services while a thread prints the run's events: with the immediate
        backend, the run executes here, when the message's transaction commits."""
        watcher: threading.Thread | None = None
        try:
            with transaction.atomic():  # no conversation is left behind when the message is refused
                if conversation is None:
                    conversation = services.conversation_create(owner=user, agent=agent)
                    follower.conversation_id = conversation.pk
                watcher = threading.Thread(target=follower.watch, name="agent_run-events", daemon=True)
                watcher.start()
                return services.message_post(conversation=conversation, text=prompt)
        except (AgentsError, LlmError) as error:  # the agent switched off meanwhile, no chat model, too long
            raise CommandError(error.message) from error
        finally:
            follower.stop()
            if watcher is not None:
                watcher.join()

    def _follow(self, follower: Follower, run: AgentRun, wait: float) -> None:
        """The rest of the run's events, as a worker (or the inline run above) wrote them."""
        follower.run_id = run.pk
        started = time.monotonic()
        hinted = False
        quiet = 0
        while True:
            # The status first: the engine saves a settled run's status before its last events.
            status = AgentRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
            seen = follower.seq
            follower.poll()
            follower.cancel_if_interrupted()
            quiet = quiet + 1 if status in SETTLED and follower.seq == seen else 0
            # Settled by its last status event; or settled without one (a worker that died between the two writes).
            if follower.settled or quiet >= QUIET_POLLS:
                follower.end_text()
                return
            waited = time.monotonic() - started
            if not hinted and waited > WORKER_HINT_SECONDS and status == RunStatus.QUEUED:
                hinted = True
                follower.line("The run is queued for a worker: is one running (python manage.py rearq_worker)?", "dim")
            if waited > wait:
                follower.end_text()
                raise CommandError(
                    f"run #{run.pk} has not finished after {wait:g} s; it goes on: follow it at "
                    f"{_absolute(reverse('admin:agents_agentrun_change', args=[run.pk]))}"
                )
            time.sleep(POLL_SECONDS)

    def _report(self, follower: Follower, run: AgentRun) -> None:
        console = follower.console
        cost = "no cost known" if run.cost is None else f"${run.cost:.6f}".rstrip("0").rstrip(".")
        usage = (
            f"{run.input_tokens:,} tokens in, {run.output_tokens:,} out, {run.requests} request(s), "
            f"{run.tool_calls_count} tool call(s), {cost}, {run.duration_ms / 1000:.1f} s"
        )
        if run.status == RunStatus.SUCCEEDED:
            console.print(Text(f"Run #{run.pk} succeeded: {usage}.", style="dim"))
            return
        if run.status == RunStatus.WAITING_FOR_APPROVAL:
            waiting = ToolCall.objects.filter(run=run, status=ToolCallStatus.AWAITING_APPROVAL, decision="")
            console.print(Text(f"Run #{run.pk} waits for a staff decision on:", style="yellow bold"))
            for call in waiting:
                console.print(Text(f"  tool call #{call.pk}: {call.tool}({_compact(call.arguments)})"), soft_wrap=True)
            console.print(
                Text(f"Approve or deny in the admin: {_absolute(reverse('admin:agents_pendingapproval_changelist'))}"),
                soft_wrap=True,
            )
            for call in waiting:
                approve = _absolute(reverse("agents:tool-call-approve", args=[call.pk]))
                console.print(Text(f"or with the API (staff): POST {approve} (or …/deny/)"), soft_wrap=True)
            console.print(Text(f"The run resumes once every call is decided ({usage} so far)."), soft_wrap=True)
            return
        if run.status == RunStatus.CANCELLED:
            raise CommandError(f"run #{run.pk} was cancelled")
        raise CommandError(f"run #{run.pk} failed ({run.error_code}): {run.error}")

    def _interrupt_handler(self, follower: Follower) -> Any:
        def interrupted(signum: int, frame: FrameType | None) -> None:
            if follower.interrupted.is_set():
                raise KeyboardInterrupt
            follower.interrupted.set()  # a polling thread cancels the run through the services

        return interrupted

    def _user(self, email: str | None) -> Any:
        users = get_user_model().objects
        if email:
            user = users.filter(email__iexact=email.strip()).first()
            if user is None:
                raise CommandError(f"no user with the email address {email!r}")
            if not user.is_active:
                raise CommandError(f"the user {email!r} is not active")
            return user
        user = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError(
                "no active superuser to run the agent as: create one (python manage.py createsuperuser) or name a "
                "user with --user EMAIL"
            )
        return user

    def _agent(self, name: str, user: Any) -> AgentDefinition:
        agent = AgentDefinition.objects.filter(name=name).first()
        if agent is None:
            names = list(AgentDefinition.objects.values_list("name", flat=True)[:20])
            known = f"the agents are: {', '.join(names)}" if names else "there are no agents yet: add one in the admin"
            raise CommandError(f"no agent named {name!r} ({known})")
        if not agent.is_active:
            raise CommandError(f"the agent {name!r} is switched off (its Active box in the admin)")
        if not may_run(user=user, agent=agent):
            raise CommandError(f"{user} may not run the agent {name!r} (it is for: {agent.get_access_display()})")
        return agent

    def _conversation(self, conversation_id: int | None, user: Any, agent: AgentDefinition) -> Conversation | None:
        if conversation_id is None:
            return None
        conversation = conversation_get(user=user, conversation_id=conversation_id)
        if conversation is None:
            raise CommandError(f"no conversation #{conversation_id} of {user}")
        if conversation.agent_id != agent.pk:
            raise CommandError(
                f"conversation #{conversation_id} is with the agent {conversation.agent.name!r}, not {agent.name!r}"
            )
        return conversation


def _absolute(path: str) -> str:
    return f"{str(settings.SITE_URL).rstrip('/')}{path}"
