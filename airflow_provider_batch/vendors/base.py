"""The vendor contract: what one batch API supplies so that the whole pipeline runs on it.

The operators, the trigger, the sensor, the submit loop and the results task never name a vendor.
They ask the hook for a client, and the hook asks the connection's vendor
(:func:`airflow_provider_batch.vendors.vendor_for`). A vendor supplies:

==========================  =================================================================
what                        how
==========================  =================================================================
its client                  :meth:`BatchVendor.client` / :meth:`BatchVendor.async_client`: an
                            object with ``files`` and ``batches`` (:class:`BatchClient`) that
                            speaks the vendor's wire and answers in the neutral models of
                            :mod:`airflow_provider_batch.client.models`. No Airflow imports.
request lines               :meth:`BatchVendor.client` writes what the wire needs at upload time
                            (OpenAI's ``method`` and ``url``); the pipeline's input stays
                            ``{custom_id, body}``.
statuses                    each client maps its statuses onto
                            :class:`~airflow_provider_batch.client.models.BatchStatus`.
limits                      :attr:`BatchVendor.limits` (requests, bytes, line size, ``custom_id``);
                            the connection's ``limits`` extra overrides them.
result lines                output and error lines in the shared envelope
                            ``{custom_id, response: {status_code, body}, error}``, read by
                            :mod:`airflow_provider_batch.results.parse`, or, for the results
                            task, the vendor's own lines read straight into parsed lines by the
                            decoder :meth:`BatchVendor.results_file` returns; an error line's neutral
                            row status is ``failed``, or the one
                            :attr:`BatchVendor.unrun_error_statuses` names for a request that
                            never ran (``expired``, ``cancelled``).
prices                      :attr:`BatchVendor.prices`; the ``price_table`` extra and the
                            operators' ``price_table`` override them.
console link                :meth:`BatchVendor.console_url`.
a lost create               :meth:`BatchVendor.find_lost_create`, given the intent record the
                            ledger wrote before the create (:class:`LostCreate`), answers the
                            batch the create made, following :attr:`BatchVendor.recovery` with
                            the strategies of :mod:`airflow_provider_batch.vendors.recovery`.
                            ``"input_file"``: the batches on the row's own input file (every
                            part is its own file); ``"metadata"``: a metadata search; both
                            answer :meth:`BatchVendor.find_created`. ``"ledger"``: the vendor
                            cannot search (``find_created`` is ``None``), so the ledger decides:
                            the account's batches created while the row was ``creating`` that no
                            ledger row owns are the candidates, and the ledger's other
                            ``creating`` rows are rivals; one candidate and no rival is adopted,
                            none is a create that did not happen, anything else is refused with
                            the ids and the commands to settle it (``batches.iter()`` must list
                            newest first).
uploads                     :meth:`BatchVendor.upload_input`: one part's file, its id handed to
                            the ledger as soon as the vendor assigns it.
inline requests             :attr:`BatchVendor.input_staged_locally`: ``files.upload`` only stages
                            the part in the client and ``batches.create`` sends it, so every try
                            stages again before a create.
its emulation               :meth:`BatchVendor.server_app`: the local server's app for it,
                            :meth:`BatchVendor.server_templates`: its route and download
                            templates (``server/templates.py``), and
                            :meth:`BatchVendor.emulation_models`: the models that app answers
                            (the test fixtures serve them beside the shared ones), and
                            :meth:`BatchVendor.emulation_error_code`: the error code its answer
                            to a ``[[fail:CODE]]`` marker carries.
its doctor probe            :meth:`BatchVendor.doctor_probe`: ``vendors/<name>/doctor.py``, the
                            steps ``python -m airflow_provider_batch doctor`` runs on the real API.
==========================  =================================================================

A vendor module imports no vendor SDK: clients are the provider's own httpx clients.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from airflow_provider_batch.client._config import ClientSettings
from airflow_provider_batch.client.models import (
    BatchCreateResponse,
    BatchJob,
    FileCleanupReport,
    FileObject,
)
from airflow_provider_batch.inputs.limits import BatchLimits
from airflow_provider_batch.pricing import PriceTable

if TYPE_CHECKING:
    from airflow_provider_batch.results.parse import LineDecoder

__all__ = [
    "BatchClient",
    "BatchVendor",
    "LostCreate",
    "Recovery",
]

#: How a create whose answer was lost is found again (see the module docstring).
Recovery = Literal["input_file", "metadata", "ledger"]


@dataclass(frozen=True)
class LostCreate:
    """A create whose answer was lost, as the ledger knows it.

    :param intent: the ledger row marked ``creating`` right before the create was sent (its
        ``input_file_id``, ``vendor`` and ``updated_at``: when it was marked).
    :param ledger: the submission ledger (``on_file``, ``by_batch``, ``creating``).
    :param requests: the part's request count (a batch of another size is not its; ``None``:
        unknown, every size is a candidate).
    :param part_index: the part's index, for the messages.
    """

    intent: Any
    ledger: Any
    requests: int | None
    part_index: int


class FilesAPI(Protocol):
    """``client.files`` as the pipeline uses it."""

    def upload(
        self,
        path: str | Path,
        *,
        purpose: str = ...,
        filename: str | None = None,
        on_file_id: Callable[[str], None] | None = None,
    ) -> FileObject: ...

    def retrieve(self, file_id: str) -> FileObject: ...

    def content(self, file_id: str, dest: str | Path) -> Path: ...

    def delete_many(self, file_ids: Iterable[str]) -> FileCleanupReport: ...

    def iter(self) -> Iterator[FileObject]: ...


class BatchesAPI(Protocol):
    """``client.batches`` as the pipeline uses it."""

    def create(
        self, input_file_id: str, endpoint: str = ..., *, known_batch_ids: Collection[str] = ()
    ) -> BatchCreateResponse: ...

    def retrieve(self, batch_id: str) -> BatchJob: ...

    def cancel(self, batch_id: str) -> BatchJob: ...

    def iter(self) -> Iterator[BatchJob]: ...

    def find_by_input_file(self, input_file_id: str) -> list[BatchJob]: ...


class BatchClient(Protocol):
    """A synchronous vendor client (a context manager); the async one has the same names, awaitable."""

    files: Any
    batches: Any

    def __enter__(self) -> BatchClient: ...

    def __exit__(self, *exc: object) -> None: ...

    def close(self) -> None: ...


class BatchVendor(abc.ABC):
    """One batch API. Subclasses are stateless; the registry holds one instance each."""

    #: Registry name, stored in the ledger's ``vendor`` column and in trigger kwargs.
    name: ClassVar[str]
    #: Shown on the batches page and in the extra link ("OpenAI batch").
    display_name: ClassVar[str]
    #: Airflow connection types this vendor reads (the provider registers only its own).
    conn_types: ClassVar[tuple[str, ...]]
    #: API root, with ``/v1``, when the connection has no host.
    default_base_url: ClassVar[str]
    #: Where a create whose answer was lost is looked for.
    recovery: ClassVar[Recovery]
    #: Endpoints the vendor's batch API accepts.
    endpoints: ClassVar[tuple[str, ...]]
    #: The purpose an input file is uploaded with.
    upload_purpose: ClassVar[str]
    #: Whether an uploaded input file can be downloaded again. When it cannot, the results task
    #: reads every request from the output and error files, which must then name them all.
    input_downloadable: ClassVar[bool] = True
    #: Whether requests go inline in the create: ``files.upload`` stages a part in the client
    #: (same id on every try, nothing sent) and the pipeline stages it again on each try.
    input_staged_locally: ClassVar[bool] = False
    #: Error codes by which the error file names a request that never ran (its batch expired or
    #: was cancelled first) -> the neutral row status it gets (``expired``, ``cancelled``) instead
    #: of ``failed``. Empty for a vendor that writes no line for such a request.
    unrun_error_statuses: ClassVar[Mapping[str, str]] = {}
    #: Per-batch limits; auto-split cuts parts to fit them.
    limits: ClassVar[BatchLimits]
    #: Built-in prices (USD per 1M tokens, before the batch discount).
    prices: ClassVar[PriceTable]

    @abc.abstractmethod
    def client(self, settings: ClientSettings) -> Any:
        """A synchronous client speaking this vendor's wire, answering in the neutral models."""

    @abc.abstractmethod
    def async_client(self, settings: ClientSettings, *, http_client: Any = None) -> Any:
        """An asyncio client; ``http_client`` is a shared pool the caller closes."""

    def results_file(self, client: Any, file_id: str, dest: Path) -> tuple[Path, LineDecoder | None]:
        """Download an output or error file for the results task: its local path and the reader
        of its lines (``None``: the shared envelope ``{custom_id, response, error}``, which
        ``files.content`` writes). A vendor whose own line shape can be read straight into
        parsed lines returns its file as written and its decoder, so no envelope is written."""
        return client.files.content(file_id, dest), None

    def console_url(self, base_url: str, batch_id: str, template: str | None = None) -> str:
        """Browser URL of one batch: ``template`` (with ``{batch_id}``) wins when given."""
        if template:
            return template.replace("{batch_id}", batch_id)
        return self.default_console_url(base_url, batch_id)

    @abc.abstractmethod
    def default_console_url(self, base_url: str, batch_id: str) -> str:
        """Browser URL of one batch on this vendor's console."""

    @abc.abstractmethod
    def server_app(self, controller: Any) -> Any:
        """This vendor's emulation in the local server: an ASGI app over the server's shared store,
        control plane and fault injection (``controller``). Imported only when a server starts."""

    def server_templates(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The routes of this vendor's emulation as ``"METHOD /path/{param}"`` templates (what the
        local server's statistics and fault scripts name), and those of them that are downloads a
        ``truncate`` fault may cut short: ``ROUTE_TEMPLATES`` and ``DOWNLOAD_TEMPLATES`` of
        ``vendors/<name>/server/templates.py``, beside the vendor's own module."""
        package = type(self).__module__.rpartition(".")[0]
        templates = importlib.import_module(f"{package}.server.templates")
        return tuple(templates.ROUTE_TEMPLATES), tuple(templates.DOWNLOAD_TEMPLATES)

    def emulation_models(self) -> tuple[str, ...]:
        """The models this vendor's emulation answers by default (its own catalogue), beyond the
        local server's shared ones. The test fixtures serve both, so the shared tests' models and
        the vendor's own run on it."""
        return ()

    def emulation_error_code(self, code: str) -> str:
        """The error code this vendor's emulation answers a request marked ``[[fail:CODE]]`` with
        (what the results table's ``error_code`` then holds): ``code`` itself, unless the vendor's
        API has codes of its own and the emulation answers with the one of the same meaning."""
        return code

    @abc.abstractmethod
    def doctor_probe(self, conn_id: str) -> Any:
        """The doctor's probe of this vendor on the connection ``conn_id``
        (a :class:`~airflow_provider_batch.doctor.probe.VendorProbe`, usually a
        :class:`~airflow_provider_batch.doctor.wire.WireProbe` in ``vendors/<name>/doctor.py``).
        Imported only when the doctor runs: it needs Airflow, the client does not."""

    def upload_input(
        self, client: Any, path: Path, *, filename: str, on_file_id: Callable[[str], None]
    ) -> FileObject:
        """Upload one part's wire file (:meth:`wire_input`) with :attr:`upload_purpose`.

        :param on_file_id: called with the new file's id as soon as the vendor assigns it (before
            the bytes are sent where the API allows it, as Together's does; with the answer on
            OpenAI's), so a crash mid-upload leaves a file the ledger knows.
        """
        uploaded: FileObject = client.files.upload(
            path, purpose=self.upload_purpose, filename=filename, on_file_id=on_file_id
        )
        return uploaded

    def find_created(self, client: Any, input_file_id: str) -> list[BatchJob] | None:
        """The batches a create on ``input_file_id`` made, found the vendor's way (:attr:`recovery`):
        a create whose answer was lost is one of them. ``None``: this vendor cannot search, so the
        ledger alone decides."""
        if self.recovery == "ledger":
            return None
        found: list[BatchJob] = client.batches.find_by_input_file(input_file_id)
        return found

    def find_lost_create(self, client: Any, lost: LostCreate) -> BatchJob | None:
        """The batch a create whose answer was lost made (``None``: it did not take effect).

        The default follows :attr:`recovery`: the batches :meth:`find_created` finds on the intent
        record's input file, less those another ledger row owns; or, for a vendor that cannot
        search, the ledger's window (:class:`~airflow_provider_batch.vendors.recovery.LedgerWindow`).
        A vendor with another way overrides this.

        :raises LedgerConflictError: this create's batch cannot be told apart; nothing is paid again.
        """
        from airflow_provider_batch.vendors.recovery import LedgerWindow, on_own_file

        assert lost.intent.input_file_id is not None
        found = self.find_created(client, lost.intent.input_file_id)
        if found is None:
            return LedgerWindow(self, client, lost).find()
        return on_own_file(found, lost)

    def wire_input(self, source: Path, endpoint: str) -> Path:
        """The file to upload for a part: ``source`` itself when its ``{custom_id, body}`` lines
        are already this vendor's wire format, else a rewritten sibling file."""
        del endpoint
        return source

    def check_endpoint(self, endpoint: str) -> None:
        """Raise ``ValueError`` unless this vendor's batch API accepts ``endpoint``."""
        if endpoint not in self.endpoints:
            raise ValueError(
                f"{self.display_name} batches do not take endpoint {endpoint!r}; expected one of "
                f"{', '.join(self.endpoints)}"
            )

    def __repr__(self) -> str:
        return f"<vendor {self.name}>"
