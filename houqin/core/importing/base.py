"""The importer base class and the two operations on an upload: ``validate`` (a dry run for the preview) and
``commit`` (all rows or none, in one transaction).

An importer names its model, the ModelForm whose rules every row must pass, its columns and the natural key
that finds the row to update. Rows are validated with that form — the same rules as the add/edit pages —
and saved with ``Model.save()``, so the change log records every created and updated row.

Large registers set ``batch_size``: rows are then parsed, matched, validated and written one batch at a time (in
the same transaction), so memory and queries grow with batches, not rows; and ``validate_with = "model"``
validates rows with the model's field validators and ``clean()`` instead of building a form per row; with
``write_behind``, each batch is written by a second thread while the next one is checked
(``houqin.core.importing.writebehind``).

``commit(importer_class, data, user, org, options=…)`` is a plain function so that a background job can run it.
"""

from __future__ import annotations

import contextlib
import decimal
import functools
import gc
import threading
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.forms.models import modelform_factory

from houqin.core import context
from houqin.core.auth import user_can
from houqin.core.importing.errors import CellError
from houqin.core.importing.mapping import ImportData, ImportField, mapping_errors
from houqin.core.importing.options import ImportOption, clean_options
from houqin.core.importing.values import cell_text, parse_text, quick_check
from houqin.core.importing.writebehind import WriteBehind

MAX_CHANGES_SHOWN = 200
NOT_VISIBLE = "导入后部分记录将不属于本单位或您无权查看，已取消导入。"
_INF = float("inf")
WRITE_BEHIND_BATCHES = 4  # a quarter of the writing left un-overlapped (the last batch's), a few queries per batch
WRITE_BEHIND_MIN_ROWS = 500
_FORM_CLASSES: dict[tuple, type] = {}


class Action:
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass
class RowError:
    row: int  # the row number the spreadsheet shows (0: the whole file)
    column: str  # e.g. 'C 列「楼层」'; empty for the whole row
    message: str
    value: str = ""


@dataclass
class Change:
    row: int
    label: str
    fields: list[tuple[str, str, str]]  # (column label, before, after)


@dataclass
class Missing:
    """Values the file names that the system does not have yet (e.g. departments), listed on the preview with how
    many rows use each, and what importing will do about them (an option may create them)."""

    label: str  # what they are, e.g. "部门"
    items: list[tuple[str, int, str]] = field(default_factory=list)  # (value as written, rows, what happens)
    note: str = ""  # one line under the list


@dataclass
class ImportResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    extra: list[tuple[str, int]] = field(default_factory=list)  # e.g. ("新建校区", 1)
    changes: list[Change] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    committed: bool = False

    @property
    def error_rows(self) -> int:
        return len({e.row for e in self.errors})

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ImportResult:
        data = dict(data)
        data["errors"] = [RowError(**e) for e in data.get("errors", [])]
        data["changes"] = [Change(**c) for c in data.get("changes", [])]
        data["skipped"] = [tuple(s) for s in data.get("skipped", [])]
        data["extra"] = [tuple(x) for x in data.get("extra", [])]
        data["missing"] = [Missing(m["label"], [tuple(i) for i in m.get("items", [])], m.get("note", ""))
                           for m in data.get("missing", [])]
        return cls(**data)


@dataclass
class ParsedRow:
    number: int
    values: dict[str, object]  # field name → parsed value (None: empty cell)
    cells: list = field(default_factory=list, repr=False)  # the row's cells as read
    columns: dict[str, int] = field(default_factory=dict, repr=False)  # field name → index in ``cells``
    ok: bool = True

    def text(self, name: str) -> str:
        """The text of the cell of field ``name`` ("" when the file has no such column)."""
        index = self.columns.get(name)
        return cell_text(self.cells[index]) if index is not None and index < len(self.cells) else ""

    @functools.cached_property
    def raw(self) -> dict[str, str]:
        """Field name → the cell's text, for messages (worked out when first needed)."""
        width = len(self.cells)
        return {name: cell_text(self.cells[index]) if index < width else "" for name, index in self.columns.items()}


@dataclass
class Plan:
    """What committing one row will do."""

    row: ParsedRow
    action: str
    instance: object
    changes: list[tuple[str, str, str]] = field(default_factory=list)


class _Rollback(Exception):
    pass


def _full_clean_trusting_org(instance, exclude=None, validate_unique=True, validate_constraints=True):
    """``Model.full_clean`` without the one query per row that checks that ``org`` exists (it is the importing
    user's own school); the unique checks and constraints that include ``org`` still run."""
    exclude = set(exclude or ())
    errors: dict = {}
    try:
        type(instance).full_clean(instance, exclude=exclude | {"org"}, validate_unique=validate_unique,
                                  validate_constraints=False)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if validate_constraints:
        skip = exclude | {name for name in errors if name != NON_FIELD_ERRORS}
        try:
            instance.validate_constraints(exclude=skip)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


class ImportForm:
    """Mixed into the importer's form: errors that the model's ``clean()`` raises for fields the form does not
    show (e.g. a parent the importer resolves itself) become row errors instead of a crash."""

    def _post_clean(self):
        instance = self.instance
        trusted = "org" not in self.fields and any(f.name == "org" for f in instance._meta.concrete_fields)
        if trusted:
            instance.full_clean = functools.partial(_full_clean_trusting_org, instance)
        try:
            super()._post_clean()
        finally:
            if trusted:
                instance.__dict__.pop("full_clean", None)

    def validate_unique(self):
        """Uniqueness is the importer's business: rows are matched to existing ones by key in bulk, and a duplicate
        that slips through becomes a row error at commit. Checking here would cost a query per row."""

    def _update_errors(self, errors):
        if hasattr(errors, "error_dict"):
            outside = {k: v for k, v in errors.error_dict.items() if k != NON_FIELD_ERRORS and k not in self.fields}
            if outside:
                self.outside_errors = getattr(self, "outside_errors", {})
                for name, messages in outside.items():
                    self.outside_errors.setdefault(name, []).extend(m for e in messages for m in e.messages)
                inside = {k: v for k, v in errors.error_dict.items() if k not in outside}
                inside.setdefault(NON_FIELD_ERRORS, []).append(ValidationError("", code="outside"))
                errors = ValidationError(inside)
        super()._update_errors(errors)


class Importer:
    """Subclass per register (locations, assets, stock items, staff …) and register it with
    ``houqin.core.importing.registry.register``.

    The default behaviour suits a flat model: rows are matched to existing ones by ``key_fields`` (all of
    them filled), validated with ``form_class`` and created or updated. Override ``prepare``/``plan``/``write``
    for registers that create parents on the way (see ``houqin.core.importing.locations``).
    """

    do_not_call_in_templates = True  # pages get the class itself: {{ importer.fields }}, not Importer()
    key: ClassVar[str] = ""  # in URLs and staged-file metadata, e.g. "locations"
    title: ClassVar[str] = ""  # what is imported, e.g. "场所"
    model: ClassVar[type] = None
    form_class: ClassVar[type] = None
    fields: ClassVar[tuple[ImportField, ...]] = ()
    key_fields: ClassVar[tuple[str, ...]] = ()
    # Fields the importer sets on the instance itself (not through the form): compared for "unchanged".
    resolved_fields: ClassVar[tuple[str, ...]] = ()
    list_url_name: ClassVar[str | None] = None  # where the result page links to
    notes: ClassVar[tuple[str, ...]] = ()  # extra lines for the template's instructions sheet
    options: ClassVar[tuple[ImportOption, ...]] = ()  # choices on the preview page (houqin.core.importing.options)
    # None: all rows in one batch. A number: parse, match, validate and write that many rows at a time.
    batch_size: ClassVar[int | None] = None
    # "form": each row through ``form_class`` (its clean methods too). "model": the model's field validators and
    # clean() only, without a form per row (the importer resolves every foreign key itself).
    validate_with: ClassVar[str] = "form"
    # With ``batch_size``: on commit, write each batch in a second thread while the next one is checked
    # (houqin.core.importing.writebehind). The file is then cut into about ``WRITE_BEHIND_BATCHES`` batches (at
    # least ``WRITE_BEHIND_MIN_ROWS`` rows, at most ``batch_size``). The importer's ``write()`` must not share
    # state with ``plan()`` except through what ``writer_for()`` hands over.
    write_behind: ClassVar[bool] = False
    # True for an importer whose run leaves no cyclic garbage (no form per row; ``test_import_scale`` checks the
    # asset importer): Python's cycle collector is then paused while it runs (see ``run``).
    pause_collector: ClassVar[bool] = False

    def __init__(self, user, org, options: dict | None = None):
        self.user = user
        self.org = org
        self.raw_options = options or {}
        self.options: dict = {}
        self.data: ImportData | None = None
        self.writing = False  # run(write=True): this run saves what it plans
        self.result = ImportResult()
        self._field_checks: dict[tuple, tuple] = {}  # (field, value) → the outcome of the field's rules
        self._texts: dict[str, str] = {}  # a cell's text as read → trimmed (``cell_text``)
        self._seen_keys: dict[tuple, int] = {}
        self._matched: dict[int, int] = {}  # pk of an existing row → the file row that updates it
        self._progress = None
        self._rows_total = 0
        self._rows_checked = 0
        self._written = 0

    # --- Permissions ------------------------------------------------------------------------------------------
    @classmethod
    def can_import(cls, user, org) -> bool:
        # ``request.org`` is a lazy object: test its truth, not ``is None``.
        return bool(org) and user_can(user, "add", cls.model, org_id=org.pk)

    def can(self, action: str, model=None) -> bool:
        return user_can(self.user, action, model or self.model, org_id=self.org.pk)

    @classmethod
    def field(cls, name: str) -> ImportField:
        by_name = cls.__dict__.get("_fields_by_name")
        if by_name is None:
            by_name = {f.name: f for f in cls.fields}
            cls._fields_by_name = by_name
        return by_name[name]

    # --- Errors -----------------------------------------------------------------------------------------------
    def error(self, row: ParsedRow | int, message: str, field_name: str | None = None) -> None:
        number = row.number if isinstance(row, ParsedRow) else row
        column, value = "", ""
        if field_name is not None and self.data is not None:
            index = self.data.column_of(field_name)
            if index is not None:
                column = self.data.column_name(index)
            if isinstance(row, ParsedRow):
                value = row.text(field_name)
                value = value if len(value) <= 60 else value[:60] + "…"
        self.result.errors.append(RowError(number, column, message, value))
        if isinstance(row, ParsedRow):
            row.ok = False

    # --- The run ------------------------------------------------------------------------------------------------
    def run(self, data: ImportData, write: bool = False, progress=None) -> ImportResult:
        """Parse, match and validate every row; with ``write`` (and no errors) also save them (see ``_run``).

        An import makes hundreds of thousands of objects that live until it ends (its rows, cards, history). Python's
        cycle collector would walk all of them again and again as they pile up: about a tenth of a 20,000-row import.
        While it runs, young objects are collected every 50,000 allocations instead of every 700, and the full
        collection waits; with ``pause_collector`` the collector does not run at all (it still walked every object
        of a 100,000-row asset register three times: half a second, for no garbage found). Afterwards the settings
        are put back (``_collector``).
        """
        with _collector(pause=self.pause_collector):
            return self._run(data, write, progress)

    def _run(self, data: ImportData, write: bool = False, progress=None) -> ImportResult:
        """Parse, match and validate every row; with ``write`` (and no errors) also save them.

        ``progress(done, total)`` is called as rows are checked and written: ``done`` is the rows checked plus the
        rows written, of ``2n`` with ``write`` (``write`` calls ``row_written()`` per saved row), else of ``n``.

        With ``batch_size``, each batch is parsed, prepared, planned and (with ``write``, as long as no row has
        failed) written before the next one — or, with ``write_behind``, while the next one is parsed and planned;
        the caller's transaction makes it all or nothing.
        """
        self.data = data
        self.writing = write
        self.result.skipped = list(data.skipped)
        if not self.can_import(self.user, self.org):
            self.error(0, f"您没有在本单位导入{self.title}的权限。")
            return self.result
        for problem in mapping_errors(data.mapping, self.fields, data):
            self.error(0, problem)
        self.options, problems = clean_options(self.options_declared(), self.raw_options, self.user, self.org)
        for problem in problems:
            self.error(0, problem)
        if not self.result.ok:
            return self.result
        self._mapped_fields()
        total = sum(1 for _, cells in data.rows if self.has_values(cells))
        self.result.total = total
        steps = total * (2 if write else 1)
        self._progress, self._rows_total, self._rows_checked, self._written = progress, total, 0, 0
        self.setup()
        size = self.batch_rows(len(data.rows))
        behind = write and self.write_behind and size < len(data.rows)
        with WriteBehind() if behind else contextlib.nullcontext() as writer:
            for start in range(0, len(data.rows), size):
                rows = [self.parse(number, cells) for number, cells in data.rows[start:start + size]]
                rows = [r for r in rows if r is not None]
                self.prepare([r for r in rows if r.ok])
                plans = []
                for row in rows:
                    self._rows_checked += 1
                    # While a batch is written, its thread reports (a report may write to the database).
                    if progress is not None and (writer is None or not writer.busy()):
                        progress(self._rows_checked + self._written, steps)
                    if not row.ok:
                        continue
                    plan = self.plan(row)
                    if plan is None:
                        continue
                    plans.append(plan)
                    self.count(plan)
                if write and self.result.ok:
                    if writer is None:
                        saved = self.write(plans)
                        self.check_still_visible(saved)
                    else:
                        writer.submit(functools.partial(self._write_and_check, self.writer_for(plans)))
        self.finish()
        self.result.extra = self.extra_counts()
        self.result.errors.sort(key=lambda e: e.row)  # parsing and matching found them in two passes
        if write and self.result.ok and progress is not None:
            progress(steps, steps)
        return self.result

    def batch_rows(self, rows: int) -> int:
        """How many rows of the file each batch takes."""
        if not self.batch_size:
            return rows or 1
        if not (self.writing and self.write_behind):
            return self.batch_size
        # About WRITE_BEHIND_BATCHES equal batches, fewer for a small file, more when they would exceed batch_size.
        batches = max(min(WRITE_BEHIND_BATCHES, -(-rows // WRITE_BEHIND_MIN_ROWS)), -(-rows // self.batch_size), 1)
        return max(1, -(-rows // batches))

    def writer_for(self, plans: list[Plan]):
        """With ``write_behind``, called in the importing thread as a batch is handed over: a function that writes it
        (in the writer thread, while the next batch is planned). Take here whatever of the importer's state the
        write needs that planning the next batch would change."""
        return functools.partial(self.write, plans)

    def _write_and_check(self, write) -> None:
        self.check_still_visible(write())

    def count(self, plan: Plan) -> None:
        if plan.action == Action.CREATE:
            self.result.created += 1
        elif plan.action == Action.UPDATE:
            self.result.updated += 1
            if len(self.result.changes) < MAX_CHANGES_SHOWN:
                self.result.changes.append(Change(plan.row.number, str(plan.instance), plan.changes))
        else:
            self.result.unchanged += 1

    @classmethod
    def options_declared(cls) -> tuple[ImportOption, ...]:
        return cls.options

    def has_values(self, cells: list) -> bool:
        """Whether a data row fills any mapped column (``parse`` skips the others)."""
        width = len(cells)
        for index in self.data.mapping:
            if index < width and cells[index] is not None and cell_text(cells[index]):
                return True
        return False

    def setup(self) -> None:
        """Once per run, before the first batch: load what every batch refers to (default: nothing)."""

    def finish(self) -> None:
        """Once per run, after the last batch (e.g. to list values the file names that the system lacks)."""

    def parse(self, number: int, cells: list) -> ParsedRow | None:
        """Read one row's mapped cells with the fields' parsers; None for a row whose mapped cells are empty."""
        self._mapped_fields()
        width = len(cells)
        row = ParsedRow(number, {}, cells, self._columns)
        values = row.values
        unfilled = []  # required fields left empty: errors only if the row is not empty altogether
        filled = False
        texts = self._texts  # a register repeats its texts: each distinct one is trimmed once
        for f, name, index, is_text, parser, required in self._parse_specs:
            value = cells[index] if index < width else None
            if value.__class__ is str:
                text = texts.get(value)
                if text is None:
                    text = cell_text(value)  # trimmed
                    if len(texts) < 200_000:
                        texts[value] = text
                if not text:
                    values[name] = None
                    if required:
                        unfilled.append(f)
                    continue
                value = text
            elif value is None or value.__class__ is float and (value != value or abs(value) == _INF):
                values[name] = None
                if required:
                    unfilled.append(f)
                continue
            filled = True
            if is_text:  # parse_text gives the cell's text
                values[name] = value if value.__class__ is str else cell_text(value)
                continue
            try:
                parsed = values[name] = parser(value)
            except CellError as exc:
                self.error(row, exc.message, name)
                continue
            except (ValueError, TypeError, ArithmeticError):  # a parser met something nobody foresaw
                self.error(row, f"无法识别“{row.raw[name][:20]}”。", name)
                continue
            if required and (parsed is None or parsed == ""):
                unfilled.append(f)
        if not filled:
            return None
        for f in unfilled:
            self.error(row, f"“{f.label}”必须填写。", f.name)
        return row

    def _mapped_fields(self) -> list[tuple[ImportField, int, bool]]:
        """(field, column index, parsed as text) of the fields the file has a column for, in the order of
        ``fields``."""
        cached = getattr(self, "_mapped", None)
        if cached is None or cached[0] is not self.data:
            columns = {name: index for index, name in self.data.mapping.items()}
            cached = (self.data, [(f, columns[f.name], f.parser is parse_text) for f in self.fields
                                  if f.name in columns])
            self._mapped = cached
            self._columns = columns
            self._parse_specs = [(f, f.name, index, is_text, f.parser, f.required) for f, index, is_text in cached[1]]
        return cached[1]

    def prepare(self, rows: list[ParsedRow]) -> None:
        """Load what the rows refer to in a few queries (not one per row). Default: the existing rows by key —
        all of them at once, or with ``batch_size`` and one key field, those whose key a row of the batch names.
        Called once per batch (once in all without ``batch_size``)."""
        if not self.key_fields:
            self.existing = {}
            return
        queryset = self.model.objects.restrict(self.user, "view").filter(org=self.org)
        if self.batch_size and len(self.key_fields) == 1:
            name = self.key_fields[0]
            keys = sorted({self.key_text(r.values[name]) for r in rows if r.values.get(name) not in (None, "")})
            queryset = queryset.filter(**{f"{name}__in": keys}) if keys else queryset.none()
        elif getattr(self, "existing", None) is not None:
            return  # all rows loaded by the first batch
        self.existing = {}
        for obj in queryset:
            key = tuple(self.key_text(getattr(obj, name)) for name in self.key_fields)
            self.existing.setdefault(key, []).append(obj)

    @staticmethod
    def key_text(value) -> str:
        return cell_text(value)

    def row_key(self, row: ParsedRow) -> tuple | None:
        if not self.key_fields or any(row.values.get(n) in (None, "") for n in self.key_fields):
            return None
        return tuple(self.key_text(row.values[n]) for n in self.key_fields)

    def plan(self, row: ParsedRow) -> Plan | None:
        """Find the row to update (or make a new one) and validate it. Default: match on ``key_fields``."""
        key = self.row_key(row)
        instance = None
        if key is not None:
            if not self.claim_key(row, key, "、".join(self.field(n).label for n in self.key_fields)):
                return None
            matches = self.existing.get(key, [])
            if len(matches) > 1:
                self.error(row, "系统中有多条记录与这一行匹配，无法确定更新哪一条。")
                return None
            instance = matches[0] if matches else None
        return self.plan_instance(row, instance if instance is not None else self.new_instance(row))

    def claim_key(self, row: ParsedRow, key: tuple, what: str) -> bool:
        """False (and an error) if an earlier row of the file has the same key."""
        first = self._seen_keys.setdefault(key, row.number)
        if first != row.number:
            self.error(row, f"与第 {first} 行重复（{what}相同），请删除或合并重复的行。")
            return False
        return True

    def new_instance(self, row: ParsedRow):
        instance = self.model()
        if hasattr(instance, "org_id"):
            instance.org = self.org
        return instance

    def plan_instance(self, row: ParsedRow, instance) -> Plan | None:
        """Validate ``row`` onto ``instance`` with the form; the plan says create, update or unchanged."""
        adding = instance._state.adding
        if not adding:
            first = self._matched.setdefault(instance.pk, row.number)
            if first != row.number:
                self.error(row, f"与第 {first} 行对应系统中的同一条记录，请删除或合并重复的行。")
                return None
            if not user_can(self.user, "change", instance):
                self.error(row, f"该{self.model._meta.verbose_name}已存在，您没有修改它的权限。")
                return None
        before = None if adding else self.snapshot(instance)
        instance = self.validate_row(row, instance)
        if instance is None:
            return None
        if adding:
            return Plan(row, Action.CREATE, instance)
        after = self.snapshot(instance)
        changes = [(label, before[name][1], text) for name, (value, text, label) in after.items()
                   if before[name][0] != value]
        return Plan(row, Action.UPDATE if changes else Action.UNCHANGED, instance, changes)

    def validate_row(self, row: ParsedRow, instance):
        """The validated instance (``validate_with``: the form, or the model's own rules); None after errors."""
        if self.validate_with == "model":
            return self.validate_model(row, instance)
        form = self.validate_form(row, instance)
        return None if form is None else form.instance

    # --- Forms --------------------------------------------------------------------------------------------------
    def form_fields(self) -> list[str]:
        """The form fields a row fills: the mapped columns that the form has, less what the importer resolves."""
        if getattr(self, "_form_fields", None) is None:
            base = self.form_class.base_fields
            mapped = self.data.mapped_fields
            self._form_fields = [f.name for f in self.fields
                                 if f.name in mapped and f.name in base and f.name not in self.resolved_fields]
        return self._form_fields

    @staticmethod
    def get_form_class(form_class, names: list[str]):
        """``form_class`` limited to ``names``: its own clean methods and the model's rules still apply."""
        key = (form_class, tuple(names))
        if key not in _FORM_CLASSES:
            base = type(f"Import{form_class.__name__}", (ImportForm, form_class), {})
            _FORM_CLASSES[key] = modelform_factory(form_class._meta.model, form=base, fields=list(names))
        return _FORM_CLASSES[key]

    def make_form(self, form_class, data: dict, instance):
        return form_class(data=data, instance=instance, user=self.user, org=self.org)

    def form_data(self, row: ParsedRow, instance, names: list[str]) -> dict:
        adding = instance._state.adding
        data = {}
        for name in names:
            value = row.values.get(name)
            f = self.field(name)
            if value in (None, ""):
                if adding and f.default is not None:
                    value = f.default
                elif not adding and f.keep_when_empty:
                    value = getattr(instance, name)
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "on" if value else ""
            data[name] = value
        return data

    def validate_form(self, row: ParsedRow, instance, names: list[str] | None = None):
        """Run the form on the row; on failure record each message under its column and return None."""
        names = self.form_fields() if names is None else names
        form = self.make_form(self.get_form_class(self.form_class, names), self.form_data(row, instance, names),
                              instance)
        if form.is_valid():
            return form
        self.form_errors(row, form)
        return None

    def validate_model(self, row: ParsedRow, instance, names: list[str] | None = None):
        """Set the row's values on ``instance`` and check them with the model's field validators (max length,
        choices, minimum values …) and ``clean()``: the rules behind the form, without building a form per row.
        Unique constraints are the importer's business (rows are matched by key); check constraints are left to
        the database, so an importer using this must make sure its values satisfy them (via validators/clean)."""
        names = self.form_fields() if names is None else names
        adding = instance._state.adding
        errors: dict[str | None, list[str]] = {}
        values = row.values
        memo = self._field_checks
        for name, f, model_field, attname, is_bool, checked in self._model_specs(names):
            value = values.get(name)
            if value is None or value.__class__ is str and not value:
                if adding and f.default is not None:
                    value = f.default
                elif not adding and f.keep_when_empty:
                    continue
                else:
                    if is_bool:
                        value = False
                    elif not model_field.blank:
                        errors.setdefault(name, []).append(f"“{f.label}”必须填写。")
                        continue
                    else:  # an empty value of a field that may be blank: nothing to check (as Model.clean_fields)
                        setattr(instance, attname, None if model_field.null else "")
                        continue
            if not checked:
                setattr(instance, attname, value)
                continue
            if checked is not True and checked.cheap and checked(value):  # cheaper than remembering the outcome
                setattr(instance, attname, value)
                continue
            # A field's rules depend on its value only: a value met before is not checked again.
            key = (name, value.__class__, value)
            try:
                outcome = memo.get(key)
            except TypeError:  # an unhashable value (a JSON field)
                key, outcome = None, None
            if outcome is None:
                if checked is not True and checked(value):  # surely valid, and clean() would return it as is
                    outcome = (True, value)
                else:
                    try:
                        outcome = (True, model_field.clean(value, instance))
                    except ValidationError as exc:
                        outcome = (False, exc.messages)
                if key is not None and len(memo) < 200_000:
                    memo[key] = outcome
            if outcome[0]:
                setattr(instance, attname, outcome[1])
            else:
                errors.setdefault(name, []).extend(outcome[1])
        try:
            self.clean_instance(instance)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for name, messages in exc.message_dict.items():
                    errors.setdefault(None if name == NON_FIELD_ERRORS else name, []).extend(messages)
            else:
                errors.setdefault(None, []).extend(exc.messages)
        if not errors:
            return instance
        for name, messages in errors.items():
            target = name if name is not None and self.data.column_of(name) is not None else None
            for message in dict.fromkeys(messages):
                self.error(row, message, target)
        return None

    def clean_instance(self, instance) -> None:
        """The model's ``clean()`` for a row of ``validate_with = "model"`` (raises ValidationError). An importer may
        replace it for the instances it builds itself with an equivalent that works out once what is the same for
        every row (and must test that both give the same outcome)."""
        instance.clean()

    def _model_specs(self, names: list[str]) -> list[tuple]:
        """(name, import field, model field, attname, is a boolean, checked) per name, worked out once. Relations
        are set as they are (the importer resolved them among what the user may see). ``checked`` is False for
        them, else a quick test of a value (``values.quick_check``) or True (the field's ``clean()`` only)."""
        cache = getattr(self, "_model_specs_cache", None)
        if cache is None or (cache[2] is not names and cache[0] != tuple(names)):
            meta = self.model._meta
            specs = []
            for name in names:
                model_field = meta.get_field(name)
                checked = not model_field.is_relation and not model_field.generated
                specs.append((name, self.field(name), model_field, model_field.attname,
                              model_field.get_internal_type() == "BooleanField",
                              (quick_check(model_field) or True) if checked else False))
            cache = (tuple(names), specs, names)
            self._model_specs_cache = cache
        return cache[1]

    def form_errors(self, row: ParsedRow, form, prefix: str = "", field_name: str | None = None) -> None:
        """Record the form's messages as row errors, each under its column (or all under ``field_name``)."""
        for name, messages in form.errors.items():
            for message in messages:
                if message:
                    target = field_name or (None if name == NON_FIELD_ERRORS else name)
                    self.error(row, prefix + message, target)
        for name, messages in getattr(form, "outside_errors", {}).items():
            for message in messages:
                target = field_name or (name if self.data.column_of(name) is not None else None)
                self.error(row, prefix + message, target)

    # --- Comparing and writing ------------------------------------------------------------------------------------
    def tracked_fields(self) -> list[str]:
        if getattr(self, "_tracked", None) is None:
            mapped = self.data.mapped_fields
            self._tracked = [*self.form_fields(), *[n for n in self.resolved_fields if n in mapped]]
        return self._tracked

    def snapshot(self, instance) -> dict[str, tuple]:
        """Per tracked field: (comparable value, text shown in the preview, column label)."""
        result = {}
        for name in self.tracked_fields():
            model_field = instance._meta.get_field(name)
            label = self.field(name).label if any(f.name == name for f in self.fields) else str(
                model_field.verbose_name)
            if model_field.is_relation:
                related = getattr(instance, name, None)
                comparable = (getattr(instance, model_field.attname), id(related) if related is not None and
                              related.pk is None else None)
                result[name] = (comparable, str(related) if related is not None else "", label)
                continue
            value = getattr(instance, model_field.attname)
            comparable = value
            if isinstance(value, decimal.Decimal):
                comparable = value.normalize()
            if value in (None, ""):
                comparable = None
            text = getattr(instance, f"get_{name}_display")() if model_field.choices else cell_text(value)
            result[name] = (comparable, str(text), label)
        return result

    def write(self, plans: list[Plan]) -> list:
        """Save the planned rows (inside the commit's transaction); returns the saved instances.

        Call ``self.row_written()`` after saving each planned row: it moves a background job's progress bar."""
        saved = []
        for plan in plans:
            if plan.action in (Action.CREATE, Action.UPDATE):
                plan.instance.save()
                saved.append(plan.instance)
                self.row_written()
        return saved

    def row_written(self) -> None:
        """One more planned row saved: report ``checked + written`` of ``2 × rows`` steps."""
        self._written += 1
        if self._progress is not None and self._rows_total:
            total = self._rows_total * 2
            self._progress(min(self._rows_checked + self._written, total), total)

    def check_still_visible(self, saved: list) -> None:
        """Every written row must be one the importing user can see in this school (else roll back). ``write()``
        may leave out rows it has checked itself (e.g. by reading their keys back through a restricted queryset,
        see ``houqin.core.importing.bulk.insert_instances``)."""
        by_model: dict[type, set] = {}
        for obj in saved:
            by_model.setdefault(type(obj), set()).add(obj.pk)
        for model, pks in by_model.items():
            visible = model.objects.restrict(self.user, "view").filter(org=self.org, pk__in=pks).count()
            if visible != len(pks):
                self.abort(NOT_VISIBLE)

    def abort(self, message: str):
        """Stop the import (inside ``commit``: roll everything back) with a message about the whole file."""
        self.error(0, message)
        raise _Rollback

    def extra_counts(self) -> list[tuple[str, int]]:
        """Further counts for the summary, e.g. parents created on the way."""
        return []


# --- Operations ---------------------------------------------------------------------------------------------------
_collector_lock = threading.Lock()
_collector_state = {"runs": 0, "pauses": 0, "threshold": None, "enabled": True}


@contextlib.contextmanager
def _collector(pause: bool):
    """The cycle collector's settings for an import (see ``Importer.run``). A process may run several imports at once
    (in threads): the first to start records the settings, the collector runs again when no import pauses it, and
    the last to end puts everything back as it was."""
    state = _collector_state
    with _collector_lock:
        if state["runs"] == 0:
            state["threshold"], state["enabled"] = gc.get_threshold(), gc.isenabled()
            young, middle, old = state["threshold"]
            gc.set_threshold(max(young, 50_000), middle, max(old, 100))
        state["runs"] += 1
        if pause:
            state["pauses"] += 1
            gc.disable()
    try:
        yield
    finally:
        with _collector_lock:
            state["runs"] -= 1
            if pause:
                state["pauses"] -= 1
            if state["pauses"] == 0 and state["enabled"]:
                gc.enable()
            if state["runs"] == 0:
                gc.set_threshold(*state["threshold"])


def validate(importer_class: type[Importer], data: ImportData, user, org, progress=None,
             options: dict | None = None) -> ImportResult:
    """A dry run: every row parsed, matched and validated; nothing is written. ``options``: the import options
    chosen on the preview page (by name; defaults for the others)."""
    return importer_class(user, org, options=options).run(data, write=False, progress=progress)


def commit(importer_class: type[Importer], data: ImportData, user, org, progress=None,
           options: dict | None = None) -> ImportResult:
    """Validate and write every row in one transaction; if any row is bad nothing is written.

    Runs as ``user`` in ``org`` (the change log records them), in the request or in a background job.
    """
    importer = importer_class(user, org, options=options)
    with _acting(user, org):
        try:
            with transaction.atomic():
                try:
                    result = importer.run(data, write=True, progress=progress)
                except IntegrityError:
                    # Someone changed the same rows between the preview and now.
                    importer.error(0, "保存时与其他人的修改冲突，已取消导入。请重新预览后再确认导入。")
                    raise _Rollback from None
                if not result.ok:
                    raise _Rollback
        except _Rollback:
            result = importer.result
            result.committed = False
            return result
    result.committed = True
    return result


def _acting(user, org):
    current = context.current()
    if current.user is not None and getattr(current.user, "pk", None) == user.pk:
        return contextlib.nullcontext()  # inside the user's own request: keep its request id
    return context.acting_as(user, org_id=org.pk)


