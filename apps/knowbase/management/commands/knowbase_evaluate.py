from __future__ import annotations

import json
from typing import IO, Any, cast

from django.core.management.base import CommandError, CommandParser
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from apps.knowbase.evaluation.evaluate import MRR_DEPTH, EvaluationError, evaluate
from apps.knowbase.exceptions import KnowbaseError
from apps.knowbase.management.common import shorten
from apps.knowbase.search import MODES, Mode
from cfg.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Measure retrieval quality on the labelled set (apps/knowbase/evaluation): loads its documents as the "
        "project's own public documents (category evaluation), runs every question, and prints recall@k and "
        "MRR@10 per search mode with the embedder's label."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mode", choices=["all", *MODES], default="all", help="The search mode (default: all)")
        parser.add_argument("--k", type=int, default=5, help="Recall is counted in the first k results (default 5)")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON")
        parser.add_argument("--misses", action="store_true", help="List the questions not answered in the first k")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["k"] <= 50:
            raise CommandError("--k must be from 1 to 50")
        modes: tuple[Mode, ...] = MODES if options["mode"] == "all" else (options["mode"],)
        with Progress(console=Console(stderr=True), transient=True) as progress:
            searches = progress.add_task("Searching", total=None)

            def searched(done: int, total: int) -> None:
                progress.update(searches, completed=done, total=total)

            try:
                report = evaluate(modes=modes, k=options["k"], on_search=searched)
            except (EvaluationError, KnowbaseError) as error:
                raise CommandError(str(getattr(error, "message", error))) from error
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        console = Console(file=cast(IO[str], self.stdout), width=120)
        k = report.k
        console.print(f"Embedder: {report.embedder_label} ({report.embedder_name}, {report.dimensions} dimensions)")
        console.print(
            f"Questions: {len(report.questions)}; a hit is a chunk of the labelled document holding its passage"
        )
        table = Table("mode", f"recall@{k}", f"MRR@{MRR_DEPTH}", f"answered in the first {k}")
        for result in report.results:
            answered = sum(1 for rank in result.ranks if rank is not None and rank <= k)
            table.add_row(result.mode, f"{result.recall:.3f}", f"{result.mrr:.3f}", f"{answered}/{len(result.ranks)}")
        console.print(table)
        if options["misses"]:
            for result in report.results:
                missed = [
                    question
                    for question, rank in zip(report.questions, result.ranks, strict=True)
                    if rank is None or rank > k
                ]
                console.print(f"\n[bold]{result.mode}[/]: {len(missed)} not answered in the first {k}")
                for question in missed:
                    console.print(f"  {question.id}: {shorten(question.question, 100)}", highlight=False)
