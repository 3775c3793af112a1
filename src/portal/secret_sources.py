"""Where a secret comes from, as a value: a Key Vault reference (written into the ARM parameter file, resolved by
ARM or at deploy time) or an environment variable of the deploying process (named in portal.yaml). Never the
secret itself; rendering, previews and the audit trail only ever show `describe()`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

KEY_VAULT_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]+/providers/Microsoft\.KeyVault/vaults/"
    r"(?P<vault>[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9])$"
)
SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
# What a shell, a pipeline or a container accepts as a variable name.
ENVIRONMENT_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class KeyVaultReference:
    vault_id: str
    secret_name: str
    secret_version: str | None = None

    @property
    def vault_name(self) -> str:
        return self.vault_id.rstrip("/").rsplit("/", 1)[-1]

    @property
    def vault_url(self) -> str:
        return f"https://{self.vault_name}.vault.azure.net"

    def describe(self) -> str:
        version = f" (version {self.secret_version})" if self.secret_version else ""
        return f"Key Vault {self.vault_name} / {self.secret_name}{version}"

    def as_json(self) -> dict[str, Any]:
        reference: dict[str, Any] = {"keyVault": {"id": self.vault_id}, "secretName": self.secret_name}
        if self.secret_version:
            reference["secretVersion"] = self.secret_version
        return {"reference": reference}

    def problems(self) -> list[str]:
        found = []
        if not KEY_VAULT_ID.match(self.vault_id):
            found.append(
                "the Key Vault id must be /subscriptions/<guid>/resourceGroups/<group>/providers/"
                "Microsoft.KeyVault/vaults/<name>"
            )
        if not SECRET_NAME.match(self.secret_name):
            found.append("a secret name has 1-127 letters, digits and hyphens")
        return found


@dataclass(frozen=True)
class EnvironmentVariable:
    name: str

    def describe(self) -> str:
        return f"environment variable {self.name}"

    def problems(self) -> list[str]:
        if ENVIRONMENT_VARIABLE_NAME.match(self.name):
            return []
        return [f"{self.name!r} is not an environment variable name (letters, digits and _, not first a digit)"]


SecretSource = KeyVaultReference | EnvironmentVariable
