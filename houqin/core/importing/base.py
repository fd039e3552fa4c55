"""The importer base class and the two operations on an upload: ``validate`` (a dry run for the preview) and
``commit`` (all rows or none, in one transaction).

An importer names its model, the ModelForm whose rules every row must pass, its columns and the natural key
that finds the row to update. Rows are validated with that form — the same rules as the add/edit pages —
and saved with ``Model.save()``, so the change log records every created and updated row.

``commit(importer_class, data, user, org)`` is a plain function so that a background job can run it.
"""

from __future__ import annotations

import contextlib
import decimal
import functools
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.forms.models import modelform_factory

from houqin.core import context
from houqin.core.auth import user_can
from houqin.core.importing.errors import CellError
from houqin.core.importing.mapping import ImportData, ImportField, mapping_errors
from houqin.core.importing.values import cell_text

MAX_CHANGES_SHOWN = 200
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
class ImportResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    extra: list[tuple[str, int]] = field(default_factory=list)  # e.g. ("新建校区", 1)
    changes: list[Change] = field(default_factory=list)
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
        return cls(**data)


@dataclass
class ParsedRow:
    number: int
    values: dict[str, object]  # field name → parsed value (None: empty cell)
    raw: dict[str, str]  # field name → the cell's text, for error messages
    ok: bool = True


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

    def __init__(self, user, org):
        self.user = user
        self.org = org
        self.data: ImportData | None = None
        self.result = ImportResult()
        self._seen_keys: dict[tuple, int] = {}
        self._matched: dict[int, int] = {}  # pk of an existing row → the file row that updates it
        self._progress = None
        self._rows_total = 0
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
        return next(f for f in cls.fields if f.name == name)

    # --- Errors -----------------------------------------------------------------------------------------------
    def error(self, row: ParsedRow | int, message: str, field_name: str | None = None) -> None:
        number = row.number if isinstance(row, ParsedRow) else row
        column, value = "", ""
        if field_name is not None and self.data is not None:
            index = self.data.column_of(field_name)
            if index is not None:
                column = self.data.column_name(index)
            if isinstance(row, ParsedRow):
                value = row.raw.get(field_name, "")
                value = value if len(value) <= 60 else value[:60] + "…"
        self.result.errors.append(RowError(number, column, message, value))
        if isinstance(row, ParsedRow):
            row.ok = False

    # --- The run ------------------------------------------------------------------------------------------------
    def run(self, data: ImportData, write: bool = False, progress=None) -> ImportResult:
        """Parse, match and validate every row; with ``write`` (and no errors) also save them.

        ``progress(done, total)`` is called as rows are checked (``1 … n`` of ``n``, or of ``2n`` with ``write``)
        and then as they are written (``n + 1 … 2n``; ``write`` calls ``row_written()`` per saved row).
        """
        self.data = data
        self.result.skipped = list(data.skipped)
        if not self.can_import(self.user, self.org):
            self.error(0, f"您没有在本单位导入{self.title}的权限。")
            return self.result
        for problem in mapping_errors(data.mapping, self.fields, data):
            self.error(0, problem)
        if not self.result.ok:
            return self.result
        rows = [self.parse(number, cells) for number, cells in data.rows]
        rows = [r for r in rows if r is not None]
        self.result.total = len(rows)
        self.prepare([r for r in rows if r.ok])
        plans = []
        steps = len(rows) * (2 if write else 1)
        self._progress, self._rows_total, self._written = progress, len(rows), 0
        for done, row in enumerate(rows, start=1):
            if progress is not None:
                progress(done, steps)
            if not row.ok:
                continue
            plan = self.plan(row)
            if plan is None:
                continue
            plans.append(plan)
            if plan.action == Action.CREATE:
                self.result.created += 1
            elif plan.action == Action.UPDATE:
                self.result.updated += 1
                if len(self.result.changes) < MAX_CHANGES_SHOWN:
                    self.result.changes.append(Change(row.number, str(plan.instance), plan.changes))
            else:
                self.result.unchanged += 1
        self.result.extra = self.extra_counts()
        self.result.errors.sort(key=lambda e: e.row)  # parsing and matching found them in two passes
        if write and self.result.ok:
            saved = self.write(plans)
            self.check_still_visible(saved)
            if progress is not None:
                progress(steps, steps)
        return self.result

    def parse(self, number: int, cells: list) -> ParsedRow | None:
        """Read one row's mapped cells with the fields' parsers; None for a row whose mapped cells are empty."""
        values: dict[str, object] = {}
        raw: dict[str, str] = {}
        for index, name in self.data.mapping.items():
            value = cells[index] if index < len(cells) else None
            raw[name] = cell_text(value)
            values[name] = value
        if not any(raw.values()):
            return None
        row = ParsedRow(number, {}, raw)
        for f in self.fields:
            if f.name not in values:
                continue
            try:
                row.values[f.name] = f.parser(values[f.name]) if raw[f.name] else None
            except CellError as exc:
                self.error(row, exc.message, f.name)
                continue
            except (ValueError, TypeError, ArithmeticError):  # a parser met something nobody foresaw
                self.error(row, f"无法识别“{raw[f.name][:20]}”。", f.name)
                continue
            if f.required and row.values[f.name] in (None, ""):
                self.error(row, f"“{f.label}”必须填写。", f.name)
        return row

    def prepare(self, rows: list[ParsedRow]) -> None:
        """Load what the rows refer to in a few queries (not one per row). Default: the existing rows by key."""
        self.existing: dict[tuple, list] = {}
        if not self.key_fields:
            return
        queryset = self.model.objects.restrict(self.user, "view").filter(org=self.org)
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
        form = self.validate_form(row, instance)
        if form is None:
            return None
        if adding:
            return Plan(row, Action.CREATE, form.instance)
        after = self.snapshot(form.instance)
        changes = [(label, before[name][1], text) for name, (value, text, label) in after.items()
                   if before[name][0] != value]
        return Plan(row, Action.UPDATE if changes else Action.UNCHANGED, form.instance, changes)

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
        """One more planned row saved: report ``rows + written`` of ``2 × rows`` steps."""
        self._written += 1
        if self._progress is not None and self._rows_total:
            total = self._rows_total * 2
            self._progress(min(self._rows_total + self._written, total), total)

    def check_still_visible(self, saved: list) -> None:
        """Every written row must be one the importing user can see in this school (else roll back)."""
        by_model: dict[type, set] = {}
        for obj in saved:
            by_model.setdefault(type(obj), set()).add(obj.pk)
        for model, pks in by_model.items():
            visible = model.objects.restrict(self.user, "view").filter(org=self.org, pk__in=pks).count()
            if visible != len(pks):
                self.error(0, "导入后部分记录将不属于本单位或您无权查看，已取消导入。")
                raise _Rollback

    def extra_counts(self) -> list[tuple[str, int]]:
        """Further counts for the summary, e.g. parents created on the way."""
        return []


# --- Operations ---------------------------------------------------------------------------------------------------
def validate(importer_class: type[Importer], data: ImportData, user, org, progress=None) -> ImportResult:
    """A dry run: every row parsed, matched and validated; nothing is written."""
    return importer_class(user, org).run(data, write=False, progress=progress)


def commit(importer_class: type[Importer], data: ImportData, user, org, progress=None) -> ImportResult:
    """Validate and write every row in one transaction; if any row is bad nothing is written.

    Runs as ``user`` in ``org`` (the change log records them), in the request or in a background job.
    """
    importer = importer_class(user, org)
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


