// The pipeline: its stages in order, each stage's settings (PATCH) and routing rules (a rule
// builder, PUT; rules may weigh the stage's model with the crowd), a form to add a stage at the end,
// and whole pipelines from templates.
import { useEffect, useMemo, useState } from "react";
import { api, ApiError } from "../api";
import { useApi } from "../common/hooks";
import { optionsOf, SKIP_REASONS } from "../labeling/answers";
import type { ConsensusMethod, Field, Schema, Stage } from "../types";
import type { ModelSpec, PipelineTemplate, SchemaVersion } from "./apiTypes";
import { ErrorNotice, Loading, messageOf, Section, stageLabel, StatusNotice, useDesign } from "./parts";
import {
  checkRules, cleanList, describeRule, isWarning, newRule, rulesFromJson, rulesToJson, sameRules, splitList,
  VERDICT_FIELD, VERDICT_VALUES, type EditorRule, type RuleContext,
} from "./routingModel";
import { move, parseNumber } from "./schemaModel";

/** Stage settings as typed in the form. */
type Settings = Record<(typeof NUMBER_SETTINGS)[number]["key"], string> & {
  name: string; requires_qualification: boolean; show_prelabels: boolean; consensus_method: ConsensusMethod;
};

/** How whole-stage runs aggregate the stage's categories, with one line each on when to pick it. */
export const CONSENSUS_METHODS: { value: ConsensusMethod; label: string; help: string }[] = [
  { value: "auto", label: "Automatic", help: "each run picks the method the crowd's size supports (Dawid-Skene for workers with many answers, MACE for a sparse crowd) unless the known answers show another is significantly better; the dashboard shows why" },
  { value: "ds", label: "Dawid-Skene", help: "a full confusion matrix per worker: learns systematic mix-ups; needs many answers per worker" },
  { value: "onecoin", label: "One-coin Dawid-Skene", help: "one accuracy per worker: steadier than Dawid-Skene with few answers per worker" },
  { value: "glad", label: "GLAD", help: "worker skill and item difficulty: for sets where some images are much harder" },
  { value: "mace", label: "MACE", help: "separates careful workers from spammers who answer at random" },
  { value: "mv", label: "Majority vote", help: "every answer counts the same: simple and transparent, ignores who is reliable" },
];

const NUMBER_SETTINGS = [
  { key: "redundancy", label: "Answers per item (k)", hint: "independent answers each item gets", whole: true, labelOnly: false },
  { key: "max_redundancy", label: "Most answers per item", hint: "more answers, one at a time, while the confidence is below the target", whole: true, labelOnly: false },
  { key: "confidence_target", label: "Confidence target", hint: "0 to 1; 0 turns adaptive answers off", whole: false, labelOnly: false },
  { key: "gold_rate_min", label: "Gold rate, proven workers", hint: "share of tasks that are gold, 0 to 1", whole: false, labelOnly: true },
  { key: "gold_rate_max", label: "Gold rate, new workers", hint: "share of tasks that are gold, 0 to 1", whole: false, labelOnly: true },
  { key: "lease_seconds", label: "Lease (seconds)", hint: "how long a worker holds a task; 30 s to 7 days", whole: true, labelOnly: false },
] as const;

function settingsOf(stage: Stage): Settings {
  return {
    name: stage.name, requires_qualification: stage.requires_qualification, show_prelabels: stage.show_prelabels,
    redundancy: String(stage.redundancy), max_redundancy: String(stage.max_redundancy),
    confidence_target: String(stage.confidence_target), gold_rate_min: String(stage.gold_rate_min),
    gold_rate_max: String(stage.gold_rate_max), lease_seconds: String(stage.lease_seconds),
    consensus_method: stage.consensus_method ?? "auto",
  };
}

/** The changed settings as the API takes them, or the problems of what was typed. */
function settingsChanges(stage: Stage, settings: Settings): { changes: Record<string, unknown>; problems: string[] } {
  const changes: Record<string, unknown> = {};
  const problems: string[] = [];
  if (!settings.name.trim()) problems.push("The stage needs a name.");
  else if (settings.name.trim() !== stage.name) changes.name = settings.name.trim();
  for (const setting of NUMBER_SETTINGS) {
    if (setting.labelOnly && stage.kind !== "label") continue;
    const number = parseNumber(settings[setting.key]);
    if (number === undefined || !Number.isFinite(number) || (setting.whole && !Number.isInteger(number))) {
      problems.push(`${setting.label} must be a ${setting.whole ? "whole " : ""}number.`);
    } else if (number !== stage[setting.key]) {
      changes[setting.key] = number;
    }
  }
  for (const key of ["requires_qualification", "show_prelabels"] as const) {
    if (stage.kind === "label" && settings[key] !== stage[key]) changes[key] = settings[key];
  }
  if (stage.kind === "label" && stage.consensus_method && settings.consensus_method !== stage.consensus_method) {
    changes.consensus_method = settings.consensus_method;
  }
  return { changes, problems };
}

export default function PipelineEditor() {
  const { slug, stages } = useDesign();
  const base = `/api/projects/${slug}`;
  const schemas = useApi<SchemaVersion[]>(`${base}/schemas/`);
  // Rules about the model need to know whether a stage has one, and which field it predicts.
  const models = useApi<ModelSpec[]>(`${base}/models/`);

  if (stages.error) return <ErrorNotice error={stages.error} />;
  if (!stages.data) return <Loading what="the pipeline" />;
  const list = stages.data;
  return (
    <div className="pipeline">
      {list.length === 0 ? (
        <TemplatePicker base={base} onBuilt={stages.reload} />
      ) : (
        <ol className="pipeline-stages">
          {list.map((stage) => (
            <li key={stage.id}>
              <StageCard stage={stage} stages={list} base={base} onSaved={stages.reload} models={models.data} />
            </li>
          ))}
        </ol>
      )}
      <AddStage base={base} schemas={schemas.data ?? []} schemasError={schemas.error} stages={list} onAdded={stages.reload} />
    </div>
  );
}

function TemplatePicker({ base, onBuilt }: { base: string; onBuilt: () => void }) {
  const templates = useApi<PipelineTemplate[]>("/api/pipeline-templates/");
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const build = async (key: string) => {
    setBusy(key);
    setError(null);
    try {
      await api(`${base}/pipeline/`, { body: { template: key } });
      onBuilt();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(null);
    }
  };
  return (
    <Section title="Start from a whole pipeline" id="pipeline-templates">
      <p className="muted">This project has no stages yet. Build a whole pipeline (its schemas, stages and routing) from a
        template, or add stages one by one below.</p>
      <ErrorNotice error={templates.error ?? error} />
      <div className="cards">
        {templates.data?.map((template) => (
          <article key={template.key} className="card">
            <h3>{template.title}</h3>
            <p>{template.description}</p>
            <ol>{template.stages.map((stage) => <li key={stage.name}>{stage.name} <span className="muted">({stage.kind ?? "label"}, {stage.audience ?? "crowd"})</span></li>)}</ol>
            <button type="button" className="primary" disabled={busy !== null} onClick={() => build(template.key)}>
              {busy === template.key ? "Building…" : `Use “${template.title}”`}
            </button>
          </article>
        ))}
      </div>
    </Section>
  );
}

function StageCard({ stage, stages, base, onSaved, models }: {
  stage: Stage; stages: Stage[]; base: string; onSaved: () => void; models: ModelSpec[] | null;
}) {
  const [open, setOpen] = useState(false);
  const title = `stage-${stage.id}-title`;
  return (
    <article className="card stage-card" aria-labelledby={title}>
      <div className="section-head">
        <h2 id={title}>{stageLabel(stage)}</h2>
        <button type="button" aria-expanded={open} aria-controls={`stage-${stage.id}-body`} onClick={() => setOpen(!open)}>
          {open ? "Close" : "Edit"} <span className="sr-only">{stage.name}</span>
        </button>
      </div>
      <p className="muted">
        {stage.kind} stage for the {stage.audience} tier
        {stage.schema ? ` · schema ${stage.schema} v${stage.schema_version}` : ""} · {stage.redundancy}
        {stage.max_redundancy > stage.redundancy ? `–${stage.max_redundancy}` : ""} answer{stage.max_redundancy === 1 ? "" : "s"} per item
        {stage.confidence_target > 0 ? ` until ${stage.confidence_target} confidence` : ""}
        {stage.kind === "label" && stage.gold_rate_max > 0 ? ` · gold ${stage.gold_rate_min}–${stage.gold_rate_max}` : ""}
        {stage.requires_qualification ? " · qualification first" : ""}
        {stage.kind === "label" && stage.show_prelabels ? " · model pre-labels shown" : ""}
        {stage.kind === "label" && stage.consensus_method ? ` · consensus ${CONSENSUS_METHODS.find((method) => method.value === stage.consensus_method)?.label ?? stage.consensus_method}` : ""} · {stage.routing.length} routing rule{stage.routing.length === 1 ? "" : "s"}
      </p>
      {open && (
        <div id={`stage-${stage.id}-body`} className="grid-2 stage-body">
          <StageSettings stage={stage} base={base} onSaved={onSaved} />
          <RoutingEditor stage={stage} stages={stages} base={base} onSaved={onSaved} models={models} />
        </div>
      )}
    </article>
  );
}

function StageSettings({ stage, base, onSaved }: { stage: Stage; base: string; onSaved: () => void }) {
  const [settings, setSettings] = useState<Settings>(() => settingsOf(stage));
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  useEffect(() => setSettings(settingsOf(stage)), [stage]);
  const { changes, problems } = settingsChanges(stage, settings);
  const id = (key: string) => `stage-${stage.id}-${key}`;
  const save = async () => {
    if (problems.length) {
      setError(problems.join(" "));
      return;
    }
    setSaving(true);
    setError(null);
    try {
      await api(`${base}/stages/${stage.id}/`, { method: "PATCH", body: changes });
      setStatus(`Saved: ${Object.keys(changes).join(", ")}.`);
      onSaved();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setSaving(false);
    }
  };
  return (
    <form className="stage-settings" onSubmit={(event) => { event.preventDefault(); void save(); }}>
      <h3>Settings</h3>
      <div className="field-grid">
        <label htmlFor={id("name")}>Name</label>
        <input id={id("name")} value={settings.name} onChange={(event) => setSettings({ ...settings, name: event.target.value })} />
        <span />
        {NUMBER_SETTINGS.filter((setting) => !setting.labelOnly || stage.kind === "label").map((setting) => (
          <NumberSetting key={setting.key} id={id(setting.key)} label={setting.label} hint={setting.hint}
            value={settings[setting.key]} onChange={(value) => setSettings({ ...settings, [setting.key]: value })} />
        ))}
        {stage.kind === "label" && (
          <>
            <span className="grid-label">Workers</span>
            <label className="inline">
              <input type="checkbox" checked={settings.requires_qualification}
                onChange={(event) => setSettings({ ...settings, requires_qualification: event.target.checked })} />
              {" "}Pass the qualification set first
            </label>
            <span />
            <span className="grid-label">Model</span>
            <label className="inline">
              <input type="checkbox" checked={settings.show_prelabels}
                onChange={(event) => setSettings({ ...settings, show_prelabels: event.target.checked })} />
              {" "}Show model pre-labels
            </label>
            <span />
            <label htmlFor={id("consensus_method")}>Consensus method</label>
            <select id={id("consensus_method")} value={settings.consensus_method}
              aria-describedby={id("consensus_method-help")}
              onChange={(event) => setSettings({ ...settings, consensus_method: event.target.value as ConsensusMethod })}>
              {CONSENSUS_METHODS.map((method) => <option key={method.value} value={method.value}>{method.label}</option>)}
            </select>
            <span id={id("consensus_method-help")} className="muted hint">
              {CONSENSUS_METHODS.find((method) => method.value === settings.consensus_method)?.help}
            </span>
          </>
        )}
      </div>
      <p className="muted">Kind, tier and schema are fixed once a stage exists. A new redundancy applies to items queued from now on.</p>
      {problems.length > 0 && <ul className="problems">{problems.map((problem) => <li key={problem} className="problem">{problem}</li>)}</ul>}
      <div className="actions">
        <button type="submit" className="primary" disabled={saving || Object.keys(changes).length === 0}>
          {saving ? "Saving…" : "Save settings"}
        </button>
        <button type="button" disabled={saving} onClick={() => { setSettings(settingsOf(stage)); setError(null); }}>Undo changes</button>
      </div>
      <ErrorNotice error={error} />
      <StatusNotice message={status} />
    </form>
  );
}

function NumberSetting({ id, label, hint, value, onChange }: {
  id: string; label: string; hint: string; value: string; onChange: (value: string) => void;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input id={id} inputMode="decimal" value={value} onChange={(event) => onChange(event.target.value)}
        aria-describedby={`${id}-hint`} />
      <span id={`${id}-hint`} className="muted hint">{hint}</span>
    </>
  );
}

/** The fields a rule may test: the stage's own schema, or for a review stage the reviewers'
 * verdict and the fields of the label stage before it. */
function useRoutableFields(stage: Stage, stages: Stage[], base: string): { fields: Field[]; note: string | null } {
  const labelStage = stage.kind === "label" ? stage
    : [...stages].filter((candidate) => candidate.kind === "label" && candidate.position < stage.position).pop() ?? null;
  const versions = useApi<SchemaVersion[]>(labelStage?.schema ? `${base}/schemas/${labelStage.schema}/versions/` : null);
  const definition: Schema | undefined = versions.data?.find((version) => version.version === labelStage?.schema_version)?.definition;
  const verdict: Field = { key: VERDICT_FIELD, kind: "single_choice", label: "Reviewers' verdict",
    options: VERDICT_VALUES.map((value) => ({ value })) };
  const schemaFields = definition?.fields ?? [];
  return {
    fields: stage.kind === "label" ? schemaFields : [verdict, ...schemaFields],
    note: versions.error ? `Fields of the schema could not be read: ${versions.error}` : null,
  };
}

function RoutingEditor({ stage, stages, base, onSaved, models }: {
  stage: Stage; stages: Stage[]; base: string; onSaved: () => void; models: ModelSpec[] | null;
}) {
  const [rules, setRules] = useState<EditorRule[]>(() => rulesFromJson(stage.routing));
  const [serverErrors, setServerErrors] = useState<Record<string, string[]>>({});
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  useEffect(() => setRules(rulesFromJson(stage.routing)), [stage.routing]);
  const { fields, note } = useRoutableFields(stage, stages, base);
  const positions = stages.map((candidate) => candidate.position);
  const model = models?.find((candidate) => candidate.stage === stage.id) ?? null;
  const context: RuleContext = useMemo(() => ({
    modelField: models ? model?.field ?? null : undefined, redundancy: stage.redundancy, mostAnswers: stage.max_redundancy,
  }), [models, model, stage.redundancy, stage.max_redundancy]);
  const problems = useMemo(() => checkRules(rules, positions, stage.position, context),
    [rules, positions, stage.position, context]);
  const dirty = !sameRules(rules, stage.routing);
  const nameOf = (position: number) => stages.find((candidate) => candidate.position === position)?.name ?? "?";
  const update = (uid: string, change: Partial<EditorRule>) =>
    setRules((current) => current.map((rule) => (rule.uid === uid ? { ...rule, ...change } : rule)));

  const save = async () => {
    const blocking = Object.values(problems).flat().filter((problem) => !isWarning(problem));
    if (blocking.length) {
      setError("Fix the rules marked below first.");
      return;
    }
    setSaving(true);
    setError(null);
    setServerErrors({});
    try {
      await api(`${base}/stages/${stage.id}/routing/`, { method: "PUT", body: { routing: rulesToJson(rules) } });
      setStatus("Routing saved.");
      onSaved();
    } catch (failure) {
      const body = failure instanceof ApiError ? (failure.body as { routing?: Record<string, string[]> }) : null;
      if (body?.routing && typeof body.routing === "object" && !Array.isArray(body.routing)) {
        const byRule: Record<string, string[]> = {};
        for (const [index, messages] of Object.entries(body.routing)) {
          const rule = rules[Number(index)];
          if (rule) byRule[rule.uid] = [messages].flat().map(String);
        }
        setServerErrors(byRule);
        setError("The server refused the routing; see the rules marked below.");
      } else {
        setError(messageOf(failure));
      }
    } finally {
      setSaving(false);
    }
  };

  return (
    <section className="routing" aria-labelledby={`routing-${stage.id}`}>
      <h3 id={`routing-${stage.id}`}>Routing: where an item goes when its consensus is in</h3>
      <p className="muted">Rules are tried in order; the first that matches decides. With no rule matching, the item is
        accepted with the consensus as its result. Sending to an earlier stage is a send-back (a new round there).
        {model ? ` Rules can weigh this stage's model (${model.name}, predicting “${model.field}”) with the crowd; a condition on the model holds only once it has scored the item.`
          : models ? " Conditions on a model apply once this stage has one (Models tab)." : ""}</p>
      {note && <ErrorNotice error={note} />}
      <ol className="rule-list">
        {rules.map((rule, index) => (
          <li key={rule.uid} className={(problems[rule.uid]?.some((problem) => !isWarning(problem)) || serverErrors[rule.uid]) ? "card rule invalid" : "card rule"}>
            <RuleEditor rule={rule} index={index} count={rules.length} stage={stage} stages={stages} fields={fields}
              description={describeRule(rule, stage.position, nameOf, context)} modelField={context.modelField}
              problems={[...(problems[rule.uid] ?? []), ...(serverErrors[rule.uid] ?? [])]}
              onChange={(change) => update(rule.uid, change)}
              onMove={(delta) => setRules((current) => move(current, index, delta))}
              onRemove={() => setRules((current) => current.filter((candidate) => candidate.uid !== rule.uid))} />
          </li>
        ))}
      </ol>
      {rules.length === 0 && <p className="muted">No rules: every item is accepted with its consensus.</p>}
      <div className="actions">
        <button type="button" onClick={() => setRules([...rules, { ...newRule(),
          then: stages.find((candidate) => candidate.position > stage.position)?.position ?? "accept" }])}>Add rule</button>
        <button type="button" className="primary" onClick={save} disabled={saving || !dirty}>{saving ? "Saving…" : "Save routing"}</button>
        <button type="button" disabled={!dirty || saving} onClick={() => { setRules(rulesFromJson(stage.routing)); setServerErrors({}); setError(null); }}>
          Undo changes
        </button>
      </div>
      <ErrorNotice error={error} />
      <StatusNotice message={status} />
    </section>
  );
}

function RuleEditor({ rule, index, count, stage, stages, fields, description, modelField, problems, onChange, onMove, onRemove }: {
  rule: EditorRule; index: number; count: number; stage: Stage; stages: Stage[]; fields: Field[]; description: string;
  modelField: string | null | undefined; problems: string[]; onChange: (change: Partial<EditorRule>) => void;
  onMove: (delta: number) => void; onRemove: () => void;
}) {
  const id = (part: string) => `rule-${rule.uid}-${part}`;
  const name = `rule ${index + 1}`;
  const chosenField = fields.find((field) => field.key === rule.field?.key) ?? null;
  const choices = chosenField ? optionsOf(chosenField) : [];
  return (
    <fieldset className="rule-body">
      <legend>Rule {index + 1}</legend>
      <p className="rule-sentence">{description}</p>
      <div className="rule-conditions" role="group" aria-label={`Conditions of ${name} (all must hold; none means always)`}>
        <div className="condition">
          <label className="inline">
            <input type="checkbox" checked={rule.confidenceBelow !== null}
              onChange={(event) => onChange({ confidenceBelow: event.target.checked ? "0.8" : null })} /> Consensus confidence below
          </label>
          {rule.confidenceBelow !== null && (
            <input aria-label={`Confidence threshold of ${name}`} inputMode="decimal" size={5} value={rule.confidenceBelow}
              onChange={(event) => onChange({ confidenceBelow: event.target.value })} />
          )}
        </div>
        <ThresholdCondition label="Consensus confidence at least" value={rule.confidenceAtLeast} start="0.9"
          inputLabel={`Minimum confidence of ${name}`} onChange={(value) => onChange({ confidenceAtLeast: value })} />
        <div className="condition">
          <label className="inline">
            <input type="checkbox" checked={rule.skippedAs !== null}
              onChange={(event) => onChange({ skippedAs: event.target.checked ? [SKIP_REASONS[0]] : null })} /> An answer was skipped as
          </label>
          {rule.skippedAs !== null && (
            <>
              <input aria-label={`Skip reasons of ${name}, separated by commas`} list={id("reasons")} size={28}
                value={rule.skippedAs.join(",")} onChange={(event) => onChange({ skippedAs: splitList(event.target.value) })} />
              <datalist id={id("reasons")}>{SKIP_REASONS.map((reason) => <option key={reason} value={reason} />)}</datalist>
            </>
          )}
        </div>
        <div className="condition">
          <label className="inline">
            <input type="checkbox" checked={rule.field !== null}
              onChange={(event) => onChange({ field: event.target.checked ? { key: fields[0]?.key ?? "", values: [] } : null })} /> The consensus of a field is one of
          </label>
          {rule.field !== null && (
            <>
              <select aria-label={`Field tested by ${name}`} value={rule.field.key}
                onChange={(event) => onChange({ field: { key: event.target.value, values: [] } })}>
                {!chosenField && <option value={rule.field.key}>{rule.field.key || "choose a field…"}</option>}
                {fields.map((field) => <option key={field.key} value={field.key}>{field.label ?? field.key}</option>)}
              </select>
              {choices.length > 0 ? (
                <span role="group" aria-label={`Answers that match ${name}`} className="checks">
                  {choices.map((option) => (
                    <label key={option.value} className="inline">
                      <input type="checkbox" checked={rule.field!.values.includes(option.value)} onChange={(event) => onChange({
                        field: { key: rule.field!.key, values: event.target.checked
                          ? [...cleanList(rule.field!.values), option.value]
                          : rule.field!.values.filter((value) => value !== option.value) },
                      })} /> {option.label}
                    </label>
                  ))}
                </span>
              ) : (
                <input aria-label={`Answers that match ${name}, separated by commas`} size={20} value={rule.field.values.join(",")}
                  onChange={(event) => onChange({ field: { key: rule.field!.key, values: splitList(event.target.value) } })} />
              )}
            </>
          )}
        </div>
        <div className="condition">
          <label className="inline">
            <input type="checkbox" checked={rule.modelAgrees !== null}
              onChange={(event) => onChange({ modelAgrees: event.target.checked ? true : null })} /> The model's prediction
            {modelField ? ` for “${modelField}”` : ""}
          </label>
          {rule.modelAgrees !== null && (
            <select aria-label={`Whether the model agrees with the consensus in ${name}`} value={rule.modelAgrees ? "agrees" : "disagrees"}
              onChange={(event) => onChange({ modelAgrees: event.target.value === "agrees" })}>
              <option value="agrees">agrees with the consensus</option>
              <option value="disagrees">differs from the consensus</option>
            </select>
          )}
        </div>
        <ThresholdCondition label="Model confidence below" value={rule.modelConfidenceBelow} start="0.8"
          inputLabel={`Model confidence threshold of ${name}`} onChange={(value) => onChange({ modelConfidenceBelow: value })} />
        <ThresholdCondition label="Model confidence at least" value={rule.modelConfidenceAtLeast} start="0.9"
          inputLabel={`Minimum model confidence of ${name}`} onChange={(value) => onChange({ modelConfidenceAtLeast: value })} />
        <div className="condition">
          <label className="inline">
            <input type="checkbox" checked={rule.randomShare !== null}
              onChange={(event) => onChange({ randomShare: event.target.checked ? "0.05" : null })} /> A random share of items
          </label>
          {rule.randomShare !== null && (
            <input aria-label={`Random share of ${name}, 0 to 1`} inputMode="decimal" size={5} value={rule.randomShare}
              onChange={(event) => onChange({ randomShare: event.target.value })} />
          )}
        </div>
      </div>
      <div className="form-row">
        <label>
          Then
          <select value={String(rule.then)} onChange={(event) => {
            const value = event.target.value;
            onChange({ then: value === "accept" || value === "one_more" ? value : Number(value) });
          }}>
            <option value="accept">accept the consensus</option>
            <option value="one_more">ask for one more answer (up to {stage.max_redundancy} per item)</option>
            {stages.filter((candidate) => candidate.position !== stage.position).map((candidate) => (
              <option key={candidate.id} value={candidate.position}>
                {candidate.position < stage.position ? "send back to" : "send to"} {stageLabel(candidate)}
              </option>
            ))}
          </select>
        </label>
        <div className="actions">
          <button type="button" onClick={() => onMove(-1)} disabled={index === 0} aria-label={`Move ${name} up`}>↑ Up</button>
          <button type="button" onClick={() => onMove(1)} disabled={index === count - 1} aria-label={`Move ${name} down`}>↓ Down</button>
          <button type="button" className="danger" onClick={onRemove} aria-label={`Remove ${name}`}>Remove</button>
        </div>
      </div>
      {problems.some((problem) => !isWarning(problem)) && (
        <ul className="problems" role="alert">
          {problems.filter((problem) => !isWarning(problem)).map((problem) => <li key={problem} className="problem">{problem}</li>)}
        </ul>
      )}
      {problems.some(isWarning) && (
        <ul className="warnings">{problems.filter(isWarning).map((problem) => <li key={problem}>{problem}</li>)}</ul>
      )}
    </fieldset>
  );
}

/** A condition on a number from 0 to 1: a checkbox that turns it on (at `start`) and its threshold. */
function ThresholdCondition({ label, value, start, inputLabel, onChange }: {
  label: string; value: string | null; start: string; inputLabel: string; onChange: (value: string | null) => void;
}) {
  return (
    <div className="condition">
      <label className="inline">
        <input type="checkbox" checked={value !== null} onChange={(event) => onChange(event.target.checked ? start : null)} /> {label}
      </label>
      {value !== null && (
        <input aria-label={inputLabel} inputMode="decimal" size={5} value={value} onChange={(event) => onChange(event.target.value)} />
      )}
    </div>
  );
}

function AddStage({ base, schemas, schemasError, stages, onAdded }: {
  base: string; schemas: SchemaVersion[]; schemasError: string | null; stages: Stage[]; onAdded: () => void;
}) {
  const [kind, setKind] = useState<Stage["kind"]>("label");
  const [audience, setAudience] = useState<Stage["audience"]>("crowd");
  const [name, setName] = useState("");
  const [schema, setSchema] = useState("");
  const [numbers, setNumbers] = useState({ redundancy: "3", max_redundancy: "3", confidence_target: "0", gold_rate_min: "0",
    gold_rate_max: "0", lease_seconds: "600" });
  const [qualification, setQualification] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const chosenSchema = schema || schemas[0]?.name || "";
  const label = kind === "label";

  const add = async () => {
    const body: Record<string, unknown> = { name: name.trim(), kind, audience: label ? audience : "expert" };
    const problems: string[] = [];
    if (!body.name) problems.push("Name the stage.");
    if (label) {
      if (!chosenSchema) problems.push("A label stage needs a schema: save one in the schema tab first.");
      body.schema = chosenSchema;
      body.requires_qualification = qualification;
    }
    for (const setting of NUMBER_SETTINGS) {
      if (setting.labelOnly && !label) continue;
      const number = parseNumber(numbers[setting.key]);
      if (number === undefined || !Number.isFinite(number)) problems.push(`${setting.label} must be a number.`);
      else body[setting.key] = number;
    }
    if (problems.length) {
      setError(problems.join(" "));
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const stage = await api<Stage>(`${base}/stages/`, { body });
      setStatus(`Added ${stageLabel(stage)}. Open it above to set its routing.`);
      setName("");
      onAdded();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Section title="Add a stage at the end" id="add-stage">
      <form onSubmit={(event) => { event.preventDefault(); void add(); }}>
        <div className="form-row">
          <label>
            Name
            <input value={name} onChange={(event) => setName(event.target.value)} placeholder="e.g. Crowd: echo view" required />
          </label>
          <label>
            Kind
            <select value={kind} onChange={(event) => {
              const next = event.target.value as Stage["kind"];
              setKind(next);
              if (next !== "label") setAudience("expert");
            }}>
              <option value="label">label: workers answer the schema</option>
              <option value="review">review: experts accept, correct or reject</option>
              <option value="adjudication">adjudication: senior experts settle reviews</option>
            </select>
          </label>
          <label>
            Tier
            <select value={label ? audience : "expert"} disabled={!label} onChange={(event) => setAudience(event.target.value as Stage["audience"])}>
              <option value="crowd">crowd</option>
              <option value="expert">expert</option>
            </select>
          </label>
          {label && (
            <label>
              Schema (newest version)
              <select value={chosenSchema} onChange={(event) => setSchema(event.target.value)}>
                {schemas.length === 0 && <option value="">no schema yet</option>}
                {schemas.map((candidate) => <option key={candidate.name} value={candidate.name}>{candidate.name} v{candidate.version}</option>)}
              </select>
            </label>
          )}
        </div>
        <div className="form-row">
          {NUMBER_SETTINGS.filter((setting) => !setting.labelOnly || label).map((setting) => (
            <label key={setting.key} title={setting.hint}>
              {setting.label}
              <input inputMode="decimal" size={6} value={numbers[setting.key]}
                onChange={(event) => setNumbers({ ...numbers, [setting.key]: event.target.value })} />
            </label>
          ))}
          {label && (
            <label className="inline">
              <input type="checkbox" checked={qualification} onChange={(event) => setQualification(event.target.checked)} />
              {" "}Qualification first
            </label>
          )}
        </div>
        <p className="muted">It becomes stage {(stages[stages.length - 1]?.position ?? 0) + 1}.
          {!label && " Review and adjudication stages use the schema of what they review and are for experts."}</p>
        <button type="submit" className="primary" disabled={saving}>{saving ? "Adding…" : "Add stage"}</button>
        <ErrorNotice error={schemasError ? `Schemas: ${schemasError}` : error} />
        <StatusNotice message={status} />
      </form>
    </Section>
  );
}
