"""Which service connection the task uses, of which type, and the settings an AWS (workload
identity federation) connection carries: role ARN, default region and session duration.

Two kinds of connection give the job its OIDC token (the same `oidctoken?serviceConnectionId=`
request serves both):
- `azureRM`: an Azure Resource Manager connection with workload identity federation (input
  `serviceConnection`, alias `azureSubscription`). It carries nothing for AWS: the role and region
  are task inputs.
- `aws`: this extension's own `AwsWif` connection type (input `awsConnection`). It needs no Azure
  subscription and no secret; its fields (the endpoint's `data`, see vss-extension.json) hold the
  role ARN, a default region and a session duration, so that approvals and checks on the
  connection guard the role. A task input given explicitly wins over the connection's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .agent import Agent
from .errors import UserError
from .identifiers import GUID

AZURE_RM = "azureRM"
AWS = "aws"
# The endpoint type vss-extension.json contributes and task.json's awsConnection input names.
ENDPOINT_TYPE = "AwsWif"
CONNECTION_INPUT = {AZURE_RM: "serviceConnection", AWS: "awsConnection"}
DISPLAY_NAME = {
    AZURE_RM: "Azure Resource Manager connection",
    AWS: "AWS (workload identity federation) connection",
}
# Task input -> (key in the AwsWif connection's data, the field's label in the connection form).
CONNECTION_FIELDS = {
    "roleArn": ("roleArn", "Role ARN"),
    "region": ("region", "Default region"),
    "durationSeconds": ("durationSeconds", "Session duration (seconds)"),
}



@dataclass(frozen=True)
class Setting:
    """The value of one setting a connection may supply, and where it came from, so that an
    error names the place to fix."""

    input_name: str
    value: str
    from_connection: bool = False
    connection_type: str = AZURE_RM

    @property
    def source(self) -> str:
        """Where the value came from, to follow "The ... '<value>'" in an error."""
        if self.from_connection:
            return f"{CONNECTION_FIELDS[self.input_name][1]} of the {DISPLAY_NAME[AWS]}"
        return f"{self.input_name} input"

    def empty(self, what: str, example: str) -> UserError:
        """The one error for a setting that neither the task nor the connection gives."""
        if self.connection_type == AWS and self.input_name in CONNECTION_FIELDS:
            label = CONNECTION_FIELDS[self.input_name][1]
            return UserError(
                f"Neither the {self.input_name} input nor the {DISPLAY_NAME[AWS]} (awsConnection) gives {what}.",
                f"Set the connection's {label} (Project settings > Service connections > the connection > Edit), "
                f"or the task's {self.input_name} input, e.g. {example}.",
            )
        return UserError(f"The {self.input_name} input is empty.", f"Set it to {what}, e.g. {example}.")


@dataclass(frozen=True)
class Connection:
    type: str
    # The task input that names the connection: what the user fixes when the connection is wrong.
    input_name: str
    id: str
    # Task input name -> the connection's value for it (AwsWif connections only).
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return DISPLAY_NAME[self.type]

    def setting(self, agent: Agent, input_name: str) -> Setting:
        """The task input if given, else the connection's value: explicit inputs override."""
        value = agent.input(input_name)
        if value:
            return Setting(input_name, value, False, self.type)
        default = self.defaults.get(input_name, "")
        return Setting(input_name, default, bool(default), self.type)

    def describe(self) -> str:
        """One log line: which connection, and which settings it supplied."""
        supplied = [CONNECTION_FIELDS[name][1] for name in CONNECTION_FIELDS if self.defaults.get(name)]
        text = f"Service connection: {self.display_name} {self.id} (input {self.input_name})"
        if self.type == AWS:
            text += f"; it gives: {', '.join(supplied) if supplied else 'no settings'} (task inputs override them)"
        return text + "."


def read_connection(agent: Agent) -> Connection:
    kind = _connection_type(agent.input("connectionType"))
    name = CONNECTION_INPUT[kind]
    value = agent.input(name)
    if not value:
        if kind == AWS:
            raise UserError(
                "The awsConnection input is empty (connectionType is aws).",
                f"Set it to the name of an {DISPLAY_NAME[AWS]} (the agent passes its id to the task), or use "
                "connectionType: azureRM with serviceConnection.",
            )
        raise UserError(
            "The serviceConnection input is empty.",
            "Set it to the name of an Azure Resource Manager service connection that uses workload "
            "identity federation (the agent passes its id to the task), or use connectionType: aws with "
            "awsConnection.",
        )
    if not GUID.match(value):
        raise UserError(
            f"The {name} input is '{value}', not a service connection id.",
            f"Name the connection directly in the task ({name}: my-connection) so that Azure "
            "DevOps resolves and authorises it before the job starts; a name built from a runtime "
            "variable is never resolved.",
        )
    connection_id = value.lower()
    defaults: dict[str, str] = {}
    if kind == AWS:
        for input_name, (key, _label) in CONNECTION_FIELDS.items():
            defaults[input_name] = agent.endpoint_data(connection_id, key)
    return Connection(kind, name, connection_id, defaults)


def _connection_type(value: str) -> str:
    # The classic editor and YAML both pass the pickList option as declared; accept any case, as
    # YAML authors type it by hand.
    for kind in (AZURE_RM, AWS):
        if value.lower() == kind.lower():
            return kind
    if not value:
        return AZURE_RM
    raise UserError(f"The connectionType input is '{value}'.", "Use azureRM or aws.")

