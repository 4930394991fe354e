// Settings: the workers' instructions (Markdown, previewed as workers see them) with example
// images, the worker-quality rules, the project's members, and its de-identification settings.
import { useEffect, useState } from "react";
import { api, ApiError, getBootstrap } from "../api";
import { useApi } from "../common/hooks";
import { Markdown } from "../common/Markdown";
import type { InstructionImage, Membership, PipelineSettings } from "./apiTypes";
import { ErrorNotice, formatDate, Loading, messageOf, Section, StatusNotice, useDesign } from "./parts";
import { parseNumber } from "./schemaModel";

export default function SettingsTab() {
  const { slug } = useDesign();
  const base = `/api/projects/${slug}`;
  const settings = useApi<PipelineSettings>(`${base}/settings/`);
  return (
    <div className="settings">
      <ErrorNotice error={settings.error} />
      {!settings.data && !settings.error && <Loading what="the settings" />}
      {settings.data && <Instructions base={base} settings={settings.data} onSaved={settings.reload} />}
      <ExampleImages base={base} />
      {settings.data && <QualityRules base={base} settings={settings.data} onSaved={settings.reload} />}
      <Members base={base} />
      <Deidentification />
    </div>
  );
}

function Instructions({ base, settings, onSaved }: { base: string; settings: PipelineSettings; onSaved: () => void }) {
  const [text, setText] = useState(settings.instructions);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  useEffect(() => setText(settings.instructions), [settings.instructions]);
  const save = async () => {
    setSaving(true);
    setError(null);
    try {
      await api(`${base}/settings/`, { method: "PATCH", body: { instructions: text } });
      setStatus("Instructions saved.");
      onSaved();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Section title="Instructions for workers" id="settings-instructions">
      <div className="grid-2">
        <div>
          <label htmlFor="instructions-text">Markdown</label>
          <textarea id="instructions-text" rows={16} value={text} onChange={(event) => setText(event.target.value)}
            aria-describedby="instructions-help" />
          <p id="instructions-help" className="muted">Headings, lists, **bold**, links and images: paste an example image's
            Markdown from the list below.</p>
        </div>
        <div>
          <h3 id="instructions-preview-title">Preview, as workers see it</h3>
          <div className="instructions-preview" aria-labelledby="instructions-preview-title">
            {text.trim() ? <Markdown text={text} /> : <p className="muted">No instructions yet.</p>}
          </div>
        </div>
      </div>
      <div className="actions">
        <button type="button" className="primary" disabled={saving || text === settings.instructions} onClick={save}>
          {saving ? "Saving…" : "Save instructions"}
        </button>
        <button type="button" disabled={text === settings.instructions} onClick={() => setText(settings.instructions)}>Undo changes</button>
      </div>
      <ErrorNotice error={error} />
      <StatusNotice message={status} />
    </Section>
  );
}

function ExampleImages({ base }: { base: string }) {
  const images = useApi<InstructionImage[]>(`${base}/instructions/images/`);
  const [file, setFile] = useState<File | null>(null);
  const [caption, setCaption] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [inputKey, setInputKey] = useState(0);
  const send = async () => {
    if (!file) return;
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("caption", caption);
    setBusy(true);
    setError(null);
    try {
      await api(`${base}/instructions/images/`, { form });
      setStatus(`Uploaded ${file.name}.`);
      setFile(null);
      setCaption("");
      setInputKey((value) => value + 1);
      images.reload();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };
  const copy = (text: string) => {
    void navigator.clipboard?.writeText(text).then(() => setStatus("Markdown copied: paste it into the instructions."),
      () => setStatus(text));
  };
  return (
    <Section title="Example images" id="settings-images">
      <ErrorNotice error={images.error} />
      {images.data && images.data.length === 0 && <p className="muted">No example images yet.</p>}
      <ul className="image-list">
        {images.data?.map((image) => {
          const markdown = `![${image.caption || "example"}](${image.url})`;
          return (
            <li key={image.id} className="card">
              <img src={image.url} alt={image.caption || "example image"} />
              <p>{image.caption || <span className="muted">no caption</span>}</p>
              <code className="markdown-snippet">{markdown}</code>
              <button type="button" onClick={() => copy(markdown)}>Copy Markdown <span className="sr-only">for {image.caption}</span></button>
            </li>
          );
        })}
      </ul>
      <form onSubmit={(event) => { event.preventDefault(); void send(); }} className="form-row">
        <label>
          PNG or JPEG, up to 5 MiB
          <input key={inputKey} type="file" accept="image/png,image/jpeg" onChange={(event) => setFile(event.target.files?.[0] ?? null)} />
        </label>
        <label>
          Caption
          <input value={caption} maxLength={200} onChange={(event) => setCaption(event.target.value)} placeholder="e.g. A4C with doming" />
        </label>
        <button type="submit" className="primary" disabled={!file || busy}>{busy ? "Uploading…" : "Upload image"}</button>
      </form>
      <ErrorNotice error={error} />
      <StatusNotice message={status} />
    </Section>
  );
}

const RULES = [
  { key: "qualification_pass_mark", label: "Qualification pass mark", hint: "share of qualification items to get right, 0 to 1" },
  { key: "reliability_threshold", label: "Reliability threshold", hint: "below it (with enough gold seen) a worker is blocked, 0 to 1" },
  { key: "min_gold_for_blocking", label: "Gold answers before blocking", hint: "evidence needed before a worker can be blocked" },
] as const;

function QualityRules({ base, settings, onSaved }: { base: string; settings: PipelineSettings; onSaved: () => void }) {
  const initial = () => Object.fromEntries(RULES.map((rule) => [rule.key, String(settings[rule.key])])) as Record<(typeof RULES)[number]["key"], string>;
  const [values, setValues] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => setValues(initial()), [settings]);
  const save = async () => {
    const body: Record<string, number> = {};
    const problems: string[] = [];
    for (const rule of RULES) {
      const number = parseNumber(values[rule.key]);
      const whole = rule.key === "min_gold_for_blocking";
      if (number === undefined || !Number.isFinite(number) || number < 0 || (whole ? !Number.isInteger(number) : number > 1)) {
        problems.push(`${rule.label}: ${rule.hint}.`);
      } else if (number !== settings[rule.key]) {
        body[rule.key] = number;
      }
    }
    if (problems.length) {
      setError(problems.join(" "));
      return;
    }
    setError(null);
    try {
      await api(`${base}/settings/`, { method: "PATCH", body });
      setStatus("Quality rules saved.");
      onSaved();
    } catch (failure) {
      setError(messageOf(failure));
    }
  };
  return (
    <Section title="Worker quality rules" id="settings-quality">
      <form onSubmit={(event) => { event.preventDefault(); void save(); }}>
        <div className="field-grid">
          {RULES.map((rule) => (
            <RuleInput key={rule.key} id={`quality-${rule.key}`} label={rule.label} hint={rule.hint} value={values[rule.key]}
              onChange={(value) => setValues({ ...values, [rule.key]: value })} />
          ))}
        </div>
        <p className="muted">Each worker's reliability is the posterior mean of their gold record; blocked workers are listed,
          with the reason, on the dashboard, where they can be unblocked.</p>
        <button type="submit" className="primary">Save quality rules</button>
        <ErrorNotice error={error} />
        <StatusNotice message={status} />
      </form>
    </Section>
  );
}

function RuleInput({ id, label, hint, value, onChange }: { id: string; label: string; hint: string; value: string; onChange: (value: string) => void }) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input id={id} inputMode="decimal" value={value} onChange={(event) => onChange(event.target.value)} aria-describedby={`${id}-hint`} />
      <span id={`${id}-hint`} className="muted hint">{hint}</span>
    </>
  );
}

function Members({ base }: { base: string }) {
  const members = useApi<Membership[]>(`${base}/members/`);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<Membership["role"]>("crowd");
  const [senior, setSenior] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const save = async (body: { username: string; role: Membership["role"]; senior: boolean }) => {
    setError(null);
    try {
      const saved = await api<Membership>(`${base}/members/`, { body });
      setStatus(`${saved.username} is ${saved.role}${saved.senior ? " (senior)" : ""}.`);
      members.reload();
      return true;
    } catch (failure) {
      setError(failure instanceof ApiError && failure.status === 404
        ? `There is no user named “${body.username}”: they need an account first.` : messageOf(failure));
      return false;
    }
  };
  return (
    <Section title="Members" id="settings-members">
      <ErrorNotice error={members.error} />
      {members.data && (
        <table>
          <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Senior expert</th><th scope="col">Since</th></tr></thead>
          <tbody>
            {members.data.map((member) => (
              <tr key={member.username}>
                <td>{member.username}</td>
                <td>
                  <select aria-label={`Role of ${member.username}`} value={member.role}
                    onChange={(event) => {
                      const role = event.target.value as Membership["role"];
                      if (member.username === getBootstrap().user.username && role !== "admin"
                        && !window.confirm("You would no longer be an admin of this project. Go on?")) return;
                      void save({ username: member.username, role, senior: role === "expert" && member.senior });
                    }}>
                    <option value="crowd">crowd worker</option>
                    <option value="expert">expert</option>
                    <option value="admin">admin</option>
                  </select>
                </td>
                <td>
                  <input type="checkbox" aria-label={`${member.username} is a senior expert`} checked={member.senior}
                    disabled={member.role !== "expert"}
                    onChange={(event) => void save({ username: member.username, role: member.role, senior: event.target.checked })} />
                </td>
                <td className="muted">{formatDate(member.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="form-row" onSubmit={(event) => {
        event.preventDefault();
        void save({ username: username.trim(), role, senior: role === "expert" && senior }).then((done) => done && setUsername(""));
      }}>
        <label>User name<input value={username} onChange={(event) => setUsername(event.target.value)} required /></label>
        <label>
          Role
          <select value={role} onChange={(event) => setRole(event.target.value as Membership["role"])}>
            <option value="crowd">crowd worker</option>
            <option value="expert">expert</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={senior} disabled={role !== "expert"} onChange={(event) => setSenior(event.target.checked)} />
          {" "}Senior (may adjudicate)
        </label>
        <button type="submit" className="primary" disabled={!username.trim()}>Add or change member</button>
      </form>
      <p className="muted">The user must already have an account.</p>
      <ErrorNotice error={error} />
      <StatusNotice message={status} />
    </Section>
  );
}

function Deidentification() {
  const { project } = useDesign();
  return (
    <Section title="De-identification" id="settings-deid">
      <ul>
        <li>Dates: {project.date_policy === "shift" ? "shifted per patient (intervals kept)" : "removed"}</li>
        <li>Patient characteristics (sex, age, size, weight): {project.retain_patient_characteristics ? "kept" : "removed"}</li>
        <li>Burned-in text: {project.burned_in_policy === "mask" ? "masked by the pixel rules" : "quarantined for admin review"}</li>
        <li>Pixel rules: {project.pixel_mask_rules.length ? project.pixel_mask_rules.map((rule) =>
          `${rule.modality ?? "any"} x ${rule.x ?? 0}, y ${rule.y ?? 0}, ${rule.width ?? "full"}×${rule.height}`).join("; ") : "none"}</li>
      </ul>
      <p className="muted">Set when the project was created; they apply to every import.</p>
    </Section>
  );
}
