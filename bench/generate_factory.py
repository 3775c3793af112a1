"""A realistic synthetic Azure Data Factory Git folder, for benchmarking the ARM export.

    python bench/generate_factory.py OUT_DIR --resources 10000 [--seed 0]

The layout is the one ADF Git integration writes (`factory/`, `linkedService/`, `dataset/`, `pipeline/`,
`trigger/`, `dataflow/`, `integrationRuntime/`, one JSON file per object, tab-indented like ADF Studio writes
them). Proportions follow real factories: about 40 % pipelines, 40 % datasets, 10 % linked services, 5 % triggers,
the rest data flows and one self-hosted integration runtime.

With the default parameterization only these make ARM parameters: linked-service `url` / `baseUrl` /
`connectionString` (plus the secure string Publish adds for each `encryptedCredential`), dataset `folderPath` /
`fileName` directly under `typeProperties` (a small share of legacy `AzureBlobFSFile` datasets; the others keep
them inside `typeProperties.location`, which is not parameterized) and the parameters of trigger `pipelines`
entries. A 10,000-resource factory exceeds ARM's 256-parameter limit by design; the export must still work.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path
from typing import Any

FACTORY_NAME = "adf-bench-dev"
SHIR_NAME = "SHIR-OnPrem"
KEY_VAULT_NAME = "LS_KeyVault"

_WORDS = (
    "Sales",
    "Customer",
    "Account",
    "Ledger",
    "Invoice",
    "Product",
    "Branch",
    "Loan",
    "Deposit",
    "Card",
    "Payment",
    "Risk",
    "Credit",
    "Finance",
    "Audit",
    "Treasury",
    "Inventory",
    "Order",
    "Employee",
    "Payroll",
    "Market",
    "Rate",
    "Balance",
    "Contract",
    "Channel",
    "Region",
    "Partner",
    "Supplier",
    "Claim",
    "Policy",
)
_STAGES = ("Raw", "Stg", "Curated", "Dim", "Fact", "Hist", "Daily", "Monthly")
_COLUMN_TYPES_CSV = ("String",)
_COLUMN_TYPES_PARQUET = ("UTF8", "INT32", "INT64", "DOUBLE", "DECIMAL", "BOOLEAN", "INT96")
_COLUMN_TYPES_SQL = ("nvarchar", "int", "bigint", "decimal", "datetime2", "bit", "date")


def _dump(path: Path, value: Any) -> None:
    # ADF Studio writes tab-indented JSON without a final newline.
    path.write_text(json.dumps(value, indent="\t", ensure_ascii=False), encoding="utf-8")


def _counts(resources: int) -> dict[str, int]:
    resources = max(resources, 12)
    linked = max(4, round(resources * 0.10))
    datasets = max(2, round(resources * 0.40))
    pipelines = max(2, round(resources * 0.40))
    triggers = max(1, round(resources * 0.05))
    integration_runtimes = 1
    dataflows = max(1, resources - linked - datasets - pipelines - triggers - integration_runtimes)
    return {
        "linkedService": linked,
        "dataset": datasets,
        "pipeline": pipelines,
        "trigger": triggers,
        "dataflow": dataflows,
        "integrationRuntime": integration_runtimes,
    }


def _ref(name: str, ref_type: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"referenceName": name, "type": ref_type}
    out.update(extra)
    return out


def _guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _columns(rng: random.Random, types: tuple[str, ...], low: int = 3, high: int = 14) -> list[tuple[str, str]]:
    count = rng.randint(low, high)
    used: set[str] = set()
    cols = []
    while len(cols) < count:
        name = rng.choice(_WORDS) + rng.choice(("Id", "Code", "Name", "Amount", "Date", "Flag", "Desc", "Qty"))
        if name in used:
            continue
        used.add(name)
        cols.append((name, rng.choice(types)))
    return cols


class _Generator:
    def __init__(self, root: Path, resources: int, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.counts = _counts(resources)
        self.blob_ls: list[str] = []
        self.sql_ls: list[str] = []
        self.other_ls: list[str] = []
        self.file_datasets: list[str] = []
        self.sql_datasets: list[str] = []
        self.pipelines: list[str] = []
        self.pipeline_params: dict[str, list[str]] = {}
        self.written = 0

    # -- helpers -----------------------------------------------------------------------------------------------
    def _write(self, folder: str, body: dict[str, Any]) -> None:
        directory = self.root / folder
        directory.mkdir(parents=True, exist_ok=True)
        _dump(directory / f"{body['name']}.json", body)
        self.written += 1

    def _name(self, prefix: str, index: int) -> str:
        rng = self.rng
        return f"{prefix}_{rng.choice(_STAGES)}_{rng.choice(_WORDS)}{rng.choice(_WORDS)}_{index:05d}"

    # -- factory -----------------------------------------------------------------------------------------------
    def factory(self) -> None:
        rng = self.rng
        body = {
            "name": FACTORY_NAME,
            "properties": {
                "globalParameters": {
                    "Environment": {"type": "string", "value": "dev"},
                    "NotificationUrl": {
                        "type": "string",
                        "value": "https://prod-12.westeurope.logic.azure.com/workflows/"
                        + _guid(rng).replace("-", "")
                        + "/triggers/manual/paths/invoke",
                    },
                    "MaxParallelCopies": {"type": "int", "value": 8},
                    "DefaultRetry": {"type": "int", "value": 3},
                    "LoadWindowDays": {"type": "float", "value": 1.5},
                    "EnableAudit": {"type": "bool", "value": True},
                }
            },
            "location": "westeurope",
            "identity": {"type": "SystemAssigned", "principalId": _guid(rng), "tenantId": _guid(rng)},
        }
        self._write("factory", body)
        self.written -= 1  # the factory file is not one of the resources counted

    def integration_runtime(self) -> None:
        self._write(
            "integrationRuntime",
            {
                "name": SHIR_NAME,
                "properties": {"type": "SelfHosted", "description": "On-premises sources"},
            },
        )

    # -- linked services ---------------------------------------------------------------------------------------
    def linked_services(self) -> None:
        rng = self.rng
        total = self.counts["linkedService"]
        # One Key Vault first: the others reference it for their secrets.
        self._write(
            "linkedService",
            {
                "name": KEY_VAULT_NAME,
                "properties": {
                    "annotations": [],
                    "type": "AzureKeyVault",
                    "typeProperties": {"baseUrl": "https://kv-adf-bench-dev.vault.azure.net/"},
                },
            },
        )
        self.other_ls.append(KEY_VAULT_NAME)
        vaults = [KEY_VAULT_NAME]
        for index in range(1, total):
            roll = rng.random()
            if roll < 0.05:
                name = f"LS_KeyVault_{index:05d}"
                body = {
                    "name": name,
                    "properties": {
                        "annotations": [],
                        "type": "AzureKeyVault",
                        "typeProperties": {"baseUrl": f"https://kv-bench-{index:05d}.vault.azure.net/"},
                    },
                }
                vaults.append(name)
                self.other_ls.append(name)
            elif roll < 0.55:
                name = self._name("LS_ADLS", index)
                account = f"stbench{index:05d}"
                type_props: dict[str, Any] = {"url": f"https://{account}.dfs.core.windows.net/"}
                if rng.random() < 0.6:
                    type_props["encryptedCredential"] = _guid(rng).replace("-", "") * 6
                body = {
                    "name": name,
                    "properties": {"annotations": [], "type": "AzureBlobFS", "typeProperties": type_props},
                }
                if rng.random() < 0.3:
                    body["properties"]["connectVia"] = _ref(SHIR_NAME, "IntegrationRuntimeReference")
                self.blob_ls.append(name)
            else:
                name = self._name("LS_SQL", index)
                server = f"sql-bench-{index:05d}.database.windows.net"
                type_props = {
                    "connectionString": f"Integrated Security=False;Encrypt=True;Connection Timeout=30;"
                    f"Data Source={server};Initial Catalog=db{rng.choice(_WORDS).lower()};"
                    f"User ID=adf_reader",
                }
                if rng.random() < 0.7:
                    type_props["password"] = {
                        "type": "AzureKeyVaultSecret",
                        "store": _ref(rng.choice(vaults), "LinkedServiceReference"),
                        "secretName": f"sql-password-{index:05d}",
                    }
                else:
                    type_props["encryptedCredential"] = _guid(rng).replace("-", "") * 6
                body = {
                    "name": name,
                    "properties": {
                        "annotations": [],
                        "type": "AzureSqlDatabase",
                        "typeProperties": type_props,
                    },
                }
                if rng.random() < 0.2:
                    body["properties"]["connectVia"] = _ref(SHIR_NAME, "IntegrationRuntimeReference")
                self.sql_ls.append(name)
            self._write("linkedService", body)
        if not self.blob_ls:
            self.blob_ls.append(KEY_VAULT_NAME)
        if not self.sql_ls:
            self.sql_ls.append(self.blob_ls[0])

    # -- datasets ----------------------------------------------------------------------------------------------
    def datasets(self) -> None:
        rng = self.rng
        for index in range(self.counts["dataset"]):
            roll = rng.random()
            folder = f"{rng.choice(_WORDS)}/{rng.choice(_STAGES)}"
            entity = rng.choice(_WORDS) + rng.choice(_WORDS)
            if roll < 0.70:
                kind = rng.choice(("DelimitedText", "Parquet"))
                name = self._name("DS_" + ("CSV" if kind == "DelimitedText" else "PQ"), index)
                location: dict[str, Any] = {
                    "type": "AzureBlobFSLocation",
                    "fileName": f"{entity}.{'csv' if kind == 'DelimitedText' else 'parquet'}",
                    "folderPath": folder,
                    "fileSystem": rng.choice(("raw", "curated", "landing", "archive")),
                }
                parameters = {}
                if rng.random() < 0.3:
                    parameters = {"FileName": {"type": "string"}, "Folder": {"type": "string", "defaultValue": folder}}
                    location["fileName"] = {"value": "@dataset().FileName", "type": "Expression"}
                    location["folderPath"] = {"value": "@dataset().Folder", "type": "Expression"}
                type_props: dict[str, Any] = {"location": location}
                if kind == "DelimitedText":
                    type_props.update(
                        {
                            "columnDelimiter": rng.choice((",", ";", "|", "\t")),
                            "escapeChar": "\\",
                            "firstRowAsHeader": True,
                            "quoteChar": '"',
                        }
                    )
                    schema = [{"type": t} for _, t in _columns(rng, _COLUMN_TYPES_CSV)]
                else:
                    type_props["compressionCodec"] = "snappy"
                    schema = []
                    for col, col_type in _columns(rng, _COLUMN_TYPES_PARQUET):
                        entry: dict[str, Any] = {"name": col, "type": col_type}
                        if col_type == "DECIMAL":
                            entry.update({"precision": 38, "scale": 18})
                        schema.append(entry)
                body: dict[str, Any] = {
                    "name": name,
                    "properties": {
                        "linkedServiceName": _ref(rng.choice(self.blob_ls), "LinkedServiceReference"),
                        **({"parameters": parameters} if parameters else {}),
                        "folder": {"name": folder},
                        "annotations": [],
                        "type": kind,
                        "typeProperties": type_props,
                        "schema": schema,
                    },
                    "type": "Microsoft.DataFactory/factories/datasets",
                }
                self.file_datasets.append(name)
            elif roll < 0.75:
                # Legacy file dataset: folderPath / fileName sit directly under typeProperties (parameterized).
                name = self._name("DS_FILE", index)
                body = {
                    "name": name,
                    "properties": {
                        "linkedServiceName": _ref(rng.choice(self.blob_ls), "LinkedServiceReference"),
                        "annotations": [],
                        "type": "AzureBlobFSFile",
                        "typeProperties": {"folderPath": f"raw/{folder}", "fileName": f"{entity}.json"},
                    },
                }
                self.file_datasets.append(name)
            else:
                name = self._name("DS_SQL", index)
                schema = []
                for col, col_type in _columns(rng, _COLUMN_TYPES_SQL):
                    entry = {"name": col, "type": col_type}
                    if col_type == "decimal":
                        entry.update({"precision": 18, "scale": 4})
                    schema.append(entry)
                body = {
                    "name": name,
                    "properties": {
                        "linkedServiceName": _ref(rng.choice(self.sql_ls), "LinkedServiceReference"),
                        "folder": {"name": f"SQL/{rng.choice(_WORDS)}"},
                        "annotations": [],
                        "type": "AzureSqlTable",
                        "schema": schema,
                        "typeProperties": {"schema": rng.choice(("dbo", "stg", "dwh")), "table": entity},
                    },
                    "type": "Microsoft.DataFactory/factories/datasets",
                }
                self.sql_datasets.append(name)
            self._write("dataset", body)
        if not self.file_datasets:
            self.file_datasets = list(self.sql_datasets)
        if not self.sql_datasets:
            self.sql_datasets = list(self.file_datasets)

    # -- pipelines ---------------------------------------------------------------------------------------------
    def _dataset_ref(self, name: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.rng.random() < 0.25:
            params = {"FileName": {"value": "@item().name", "type": "Expression"}, "Folder": "landing"}
        return _ref(name, "DatasetReference", parameters=params)

    def _copy(self, name: str, depends: list[dict[str, Any]]) -> dict[str, Any]:
        rng = self.rng
        from_sql = rng.random() < 0.5
        source = rng.choice(self.sql_datasets if from_sql else self.file_datasets)
        sink = rng.choice(self.file_datasets)
        source_props: dict[str, Any] = (
            {
                "type": "AzureSqlSource",
                "sqlReaderQuery": f"SELECT * FROM dbo.{rng.choice(_WORDS)} "
                f"WHERE LoadDate >= '@{{pipeline().parameters.FromDate}}'",
                "queryTimeout": "02:00:00",
                "partitionOption": "None",
            }
            if from_sql
            else {
                "type": "DelimitedTextSource",
                "storeSettings": {
                    "type": "AzureBlobFSReadSettings",
                    "recursive": True,
                    "enablePartitionDiscovery": False,
                },
                "formatSettings": {"type": "DelimitedTextReadSettings"},
            }
        )
        return {
            "name": name,
            "type": "Copy",
            "dependsOn": depends,
            "policy": {
                "timeout": "0.12:00:00",
                "retry": rng.choice((0, 1, 3)),
                "retryIntervalInSeconds": 30,
                "secureOutput": False,
                "secureInput": False,
            },
            "userProperties": [],
            "typeProperties": {
                "source": source_props,
                "sink": {
                    "type": "ParquetSink",
                    "storeSettings": {"type": "AzureBlobFSWriteSettings"},
                    "formatSettings": {"type": "ParquetWriteSettings"},
                },
                "enableStaging": False,
                "translator": {
                    "type": "TabularTranslator",
                    "typeConversion": True,
                    "typeConversionSettings": {"allowDataTruncation": True, "treatBooleanAsNumber": False},
                },
            },
            "inputs": [self._dataset_ref(source)],
            "outputs": [self._dataset_ref(sink)],
        }

    def _web(self, name: str, depends: list[dict[str, Any]]) -> dict[str, Any]:
        rng = self.rng
        return {
            "name": name,
            "type": "WebActivity",
            "dependsOn": depends,
            "policy": {
                "timeout": "0.00:10:00",
                "retry": 0,
                "retryIntervalInSeconds": 30,
                "secureOutput": False,
                "secureInput": False,
            },
            "userProperties": [],
            "typeProperties": {
                "method": "POST",
                "url": {"value": "@pipeline().globalParameters.NotificationUrl", "type": "Expression"},
                "body": {
                    "value": '@concat(\'{"pipeline":"\', pipeline().Pipeline, \'","runId":"\', '
                    'pipeline().RunId, \'","status":"' + rng.choice(("ok", "failed")) + "\"}')",
                    "type": "Expression",
                },
                "headers": {"Content-Type": "application/json"},
            },
        }

    def _execute(self, name: str, target: str, depends: list[dict[str, Any]]) -> dict[str, Any]:
        params = {p: f"@pipeline().parameters.{p}" for p in self.pipeline_params.get(target, [])}
        return {
            "name": name,
            "type": "ExecutePipeline",
            "dependsOn": depends,
            "userProperties": [],
            "typeProperties": {
                "pipeline": _ref(target, "PipelineReference"),
                "waitOnCompletion": True,
                "parameters": {k: {"value": v, "type": "Expression"} for k, v in params.items()},
            },
        }

    def _foreach(self, name: str, index: int, depends: list[dict[str, Any]], slot: int) -> dict[str, Any]:
        rng = self.rng
        inner: list[dict[str, Any]] = []
        for j in range(rng.randint(1, 3)):
            inner_depends = [{"activity": inner[-1]["name"], "dependencyConditions": ["Succeeded"]}] if inner else []
            if index > 0 and rng.random() < 0.2:
                inner.append(self._execute(f"Run child {slot}_{j}", self._earlier_pipeline(index), inner_depends))
            else:
                inner.append(self._copy(f"Copy item {slot}_{j}", inner_depends))
        return {
            "name": name,
            "type": "ForEach",
            "dependsOn": depends,
            "userProperties": [],
            "typeProperties": {
                "items": {"value": "@pipeline().parameters.Tables", "type": "Expression"},
                "isSequential": rng.random() < 0.3,
                "batchCount": rng.choice((4, 8, 20)),
                "activities": inner,
            },
        }

    def _earlier_pipeline(self, index: int) -> str:
        # Only pipelines written before this one: the call graph stays acyclic, with bounded fan-in.
        low = max(0, index - 200)
        return self.pipelines[self.rng.randrange(low, index)]

    def pipelines_(self) -> None:
        rng = self.rng
        for index in range(self.counts["pipeline"]):
            name = self._name("PL", index)
            activities: list[dict[str, Any]] = []
            for a in range(rng.randint(1, 6)):
                depends = (
                    [{"activity": activities[-1]["name"], "dependencyConditions": ["Succeeded"]}]
                    if activities and rng.random() < 0.8
                    else []
                )
                roll = rng.random()
                if roll < 0.50:
                    activities.append(self._copy(f"Copy {rng.choice(_WORDS)} {a}", depends))
                elif roll < 0.65 and index > 0:
                    activities.append(self._execute(f"Execute {a}", self._earlier_pipeline(index), depends))
                elif roll < 0.85:
                    activities.append(self._foreach(f"ForEach table {a}", index, depends, a))
                else:
                    activities.append(self._web(f"Notify {a}", depends))
            params = ["FromDate", "Tables"] + (["Mode"] if rng.random() < 0.3 else [])
            tables = [{"name": f"{w}.csv"} for w in rng.sample(_WORDS, 3)]
            body = {
                "name": name,
                "properties": {
                    "activities": activities,
                    "parameters": {
                        "FromDate": {"type": "string", "defaultValue": "2024-01-01"},
                        "Tables": {"type": "array", "defaultValue": tables},
                        **({"Mode": {"type": "string", "defaultValue": "incremental"}} if "Mode" in params else {}),
                    },
                    "folder": {"name": f"{rng.choice(_WORDS)}/{rng.choice(_STAGES)}"},
                    "annotations": [],
                    "lastPublishTime": "2024-05-06T10:11:12Z",
                },
                "type": "Microsoft.DataFactory/factories/pipelines",
            }
            self._write("pipeline", body)
            self.pipelines.append(name)
            self.pipeline_params[name] = params

    # -- triggers ----------------------------------------------------------------------------------------------
    def triggers(self) -> None:
        rng = self.rng
        for index in range(self.counts["trigger"]):
            name = self._name("TR", index)
            entries = []
            for target in rng.sample(self.pipelines, min(len(self.pipelines), rng.randint(1, 2))):
                parameters: dict[str, Any] = {}
                if rng.random() < 0.5:
                    parameters["FromDate"] = "@trigger().scheduledTime"
                if rng.random() < 0.3 and "Mode" in self.pipeline_params[target]:
                    parameters["Mode"] = "full"
                entries.append({"pipelineReference": _ref(target, "PipelineReference"), "parameters": parameters})
            body = {
                "name": name,
                "properties": {
                    "annotations": [],
                    "runtimeState": rng.choice(("Started", "Stopped")),
                    "pipelines": entries,
                    "type": "ScheduleTrigger",
                    "typeProperties": {
                        "recurrence": {
                            "frequency": rng.choice(("Day", "Hour", "Week")),
                            "interval": 1,
                            "startTime": "2024-01-01T02:00:00",
                            "timeZone": "W. Europe Standard Time",
                            "schedule": {"minutes": [rng.randrange(60)], "hours": [rng.randrange(24)]},
                        }
                    },
                },
            }
            self._write("trigger", body)

    # -- data flows --------------------------------------------------------------------------------------------
    def dataflows(self) -> None:
        rng = self.rng
        for index in range(self.counts["dataflow"]):
            name = self._name("DF", index)
            sources = [
                {"dataset": _ref(rng.choice(self.file_datasets), "DatasetReference"), "name": f"source{i + 1}"}
                for i in range(rng.randint(1, 2))
            ]
            sinks = [{"dataset": _ref(rng.choice(self.file_datasets), "DatasetReference"), "name": "sink1"}]
            cols = [c for c, _ in _columns(rng, ("string",), 4, 10)]
            lines = [
                "source(output(\n"
                + ",\n".join(f"\t\t{c} as string" for c in cols)
                + "\n\t),\n\tallowSchemaDrift: true,\n\tvalidateSchema: false,\n\tignoreNoFilesFound: false) ~> "
                + s["name"]
                for s in sources
            ]
            lines.append(
                f"{sources[0]['name']} derive(LoadDate = currentDate(),\n\t\t{cols[0]} = trim({cols[0]})) "
                "~> DerivedColumn1"
            )
            lines.append(
                "DerivedColumn1 select(mapColumn(\n"
                + ",\n".join(f"\t\t{c}" for c in cols)
                + ",\n\t\tLoadDate\n\t),\n\tskipDuplicateMapInputs: true,\n\tskipDuplicateMapOutputs: true)"
                " ~> Select1"
            )
            lines.append(
                "Select1 sink(allowSchemaDrift: true,\n\tvalidateSchema: false,\n\tformat: 'parquet',\n"
                "\tumask: 0022,\n\tpreCommands: [],\n\tpostCommands: [],\n\tskipDuplicateMapInputs: true,\n"
                "\tskipDuplicateMapOutputs: true) ~> sink1"
            )
            body = {
                "name": name,
                "properties": {
                    "folder": {"name": rng.choice(_WORDS)},
                    "type": "MappingDataFlow",
                    "typeProperties": {
                        "sources": sources,
                        "sinks": sinks,
                        "transformations": [{"name": "DerivedColumn1"}, {"name": "Select1"}],
                        "script": "\n".join(lines),
                    },
                },
            }
            self._write("dataflow", body)

    def run(self) -> None:
        self.factory()
        self.integration_runtime()
        self.linked_services()
        self.datasets()
        self.pipelines_()
        self.triggers()
        self.dataflows()


def generate_factory(root: Path, resources: int, seed: int = 0) -> dict[str, int]:
    """Write a synthetic ADF Git folder with about `resources` objects under `root` (emptied first if it holds
    ADF folders). Returns the number of objects written per folder."""
    root = Path(root)
    for folder in ("factory", "linkedService", "dataset", "pipeline", "trigger", "dataflow", "integrationRuntime"):
        shutil.rmtree(root / folder, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    generator = _Generator(root, resources, seed)
    generator.run()
    return dict(generator.counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = generate_factory(args.out_dir, args.resources, args.seed)
    print(
        f"wrote {sum(counts.values())} objects to {args.out_dir}: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; factory {FACTORY_NAME}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
