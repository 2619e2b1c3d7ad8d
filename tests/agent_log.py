"""Reads task output the way the Azure Pipelines agent does (Command.TryParse and
CommandStringConvertor.Unescape): the tests judge our output by the agent's rules, not ours."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX = "##vso["


@dataclass
class Command:
    name: str
    properties: dict[str, str]
    data: str
    line: str


def unescape(value: str) -> str:
    for token, char in (("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]")):
        value = value.replace(token, char)
    return value.replace("%AZP25", "%")


def lines(output: str) -> list[str]:
    # The agent ends a line at LF, CRLF and a lone CR alike.
    return re.split(r"\r\n|\n|\r", output)


def parse_line(line: str) -> Command | None:
    start = line.find(PREFIX)
    if start < 0:
        return None
    end = line.find("]", start)
    if end < 0:
        return None
    info = line[start + len(PREFIX) : end]
    name, _, props = info.partition(" ")
    properties: dict[str, str] = {}
    for pair in props.split(";"):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if sep:
            properties[key.lower()] = unescape(value)
    return Command(name.lower(), properties, unescape(line[end + 1 :]), line)


@dataclass
class AgentView:
    """What the agent would make of a task's output."""

    output: str
    commands: list[Command] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    output_variables: dict[str, str] = field(default_factory=dict)
    secret_variables: set[str] = field(default_factory=set)
    task_variables: dict[str, str] = field(default_factory=dict)
    masked: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    result: str | None = None

    @classmethod
    def of(cls, output: str) -> AgentView:
        view = cls(output)
        for line in lines(output):
            command = parse_line(line)
            if command is None:
                view.plain.append(line)
                continue
            view.commands.append(command)
            view._apply(command)
        return view

    def _apply(self, c: Command) -> None:
        if c.name == "task.setvariable":
            target = self.output_variables if c.properties.get("isoutput") == "true" else self.variables
            target[c.properties["variable"]] = c.data
            if c.properties.get("issecret") == "true":
                self.secret_variables.add(c.properties["variable"])
                self.masked.add(c.data)
        elif c.name == "task.settaskvariable":
            self.task_variables[c.properties["variable"]] = c.data
        elif c.name == "task.setsecret":
            self.masked.add(c.data)
        elif c.name == "task.logissue":
            (self.errors if c.properties.get("type") == "error" else self.warnings).append(c.data)
        elif c.name == "task.complete":
            self.result = c.properties.get("result")

    def leaks(self, secrets: list[str]) -> list[str]:
        """Lines that show a secret anywhere but in the data of the setsecret/issecret command that
        hands it to the agent for masking."""
        found = []
        for line in lines(self.output):
            command = parse_line(line)
            text = line
            if command is not None and (
                command.name == "task.setsecret"
                or (command.name == "task.setvariable" and command.properties.get("issecret") == "true")
            ):
                text = line[: line.find("]", line.find(PREFIX)) + 1]
            found += [line for s in secrets if s and (s in text or s in unescape(text))]
        return found
