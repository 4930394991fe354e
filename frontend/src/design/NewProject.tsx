// A new project (platform staff): its name and address, how its images are de-identified, and
// what it starts from: a whole pipeline template, a copy of another project's design, or nothing.
import { useState } from "react";
import { Link, useHref } from "react-router";
import { api, getBootstrap } from "../api";
import { useApi } from "../common/hooks";
import type { MaskRule, PipelineTemplate, Project } from "./apiTypes";
import { ErrorNotice, messageOf, StatusNotice } from "./parts";
import { parseNumber } from "./schemaModel";
import "./design.css";

/** A project address from its name: lower case, words joined by hyphens, at most 64 characters. */
export function slugify(name: string): string {
  return name.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "").slice(0, 64).replace(/-+$/, "");
}

interface RuleRow { modality: string; x: string; y: string; width: string; height: string }

/** Pixel mask rules as the API takes them, or the problems of what was typed. */
export function maskRules(rows: RuleRow[]): { rules: MaskRule[]; problems: string[] } {
  const rules: MaskRule[] = [];
  const problems: string[] = [];
  rows.forEach((row, index) => {
    const rule: MaskRule = {};
    if (row.modality.trim()) rule.modality = row.modality.trim().toUpperCase();
    for (const key of ["x", "y", "width", "height"] as const) {
      const number = parseNumber(row[key]);
      if (number === undefined) continue;
      if (!Number.isInteger(number) || number < 0) problems.push(`Rule ${index + 1}: ${key} is a whole number of pixels.`);
      else rule[key] = number;
    }
    if (!rule.height) problems.push(`Rule ${index + 1}: give the height of the band to black out.`);
    rules.push(rule);
  });
  return { rules, problems };
}

type Start = { kind: "blank" } | { kind: "template"; key: string } | { kind: "clone"; slug: string };

export default function NewProject() {
  const { user, projects } = getBootstrap();
  const templates = useApi<PipelineTemplate[]>("/api/pipeline-templates/");
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [slugEdited, setSlugEdited] = useState(false);
  const [datePolicy, setDatePolicy] = useState<"shift" | "remove">("shift");
  const [retain, setRetain] = useState(false);
  const [burnedIn, setBurnedIn] = useState<"quarantine" | "mask">("quarantine");
  const [rules, setRules] = useState<RuleRow[]>([]);
  const [start, setStart] = useState<Start>({ kind: "blank" });
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const appRoot = useHref("/").replace(/\/+$/, "");
  const adminOf = projects.filter((project) => project.role === "admin");
  const address = slugEdited ? slug : slugify(name);

  if (!user.is_staff) {
    return (
      <main className="page">
        <h1>New project</h1>
        <p className="notice warn" role="alert">Only platform staff may create projects. Ask an administrator.</p>
        <p><Link to="/">Your projects</Link></p>
      </main>
    );
  }

  const open = (projectSlug: string) => {
    // A full page load, so the app's list of your projects includes the new one.
    window.location.assign(`${appRoot}/projects/${projectSlug}/design/${start.kind === "blank" ? "schema" : "pipeline"}`);
  };

  const create = async () => {
    const problems: string[] = [];
    if (!name.trim()) problems.push("Name the project.");
    if (!/^[-a-zA-Z0-9_]+$/.test(address)) problems.push("The address takes letters, digits, - and _.");
    const mask = maskRules(rules);
    if (burnedIn === "mask") problems.push(...mask.problems);
    if (problems.length) {
      setError(problems.join(" "));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (start.kind === "clone") {
        setStatus(`Copying the design of ${start.slug}…`);
        await api(`/api/projects/${start.slug}/clone/`, { body: { slug: address, name: name.trim() } });
        setCreated(address);
        open(address);
        return;
      }
      setStatus("Creating the project…");
      const project = await api<Project>("/api/projects/", { body: {
        slug: address, name: name.trim(), date_policy: datePolicy, retain_patient_characteristics: retain,
        burned_in_policy: burnedIn, pixel_mask_rules: burnedIn === "mask" ? mask.rules : [],
      } });
      setCreated(project.slug);
      if (start.kind === "template") {
        setStatus("Building the pipeline…");
        try {
          await api(`/api/projects/${project.slug}/pipeline/`, { body: { template: start.key } });
        } catch (failure) {
          setError(`The project was created, but its pipeline was not built: ${messageOf(failure)}`);
          setStatus(null);
          return;
        }
      }
      open(project.slug);
    } catch (failure) {
      setError(messageOf(failure));
      setStatus(null);
    } finally {
      setBusy(false);
    }
  };

  const setRule = (index: number, change: Partial<RuleRow>) =>
    setRules(rules.map((rule, position) => (position === index ? { ...rule, ...change } : rule)));

  return (
    <main className="page design new-project">
      <h1>New project</h1>
      <form onSubmit={(event) => { event.preventDefault(); void create(); }}>
        <section className="card design-section" aria-labelledby="new-project-name">
          <h2 id="new-project-name">Name</h2>
          <div className="form-row">
            <label>
              Project name
              <input value={name} onChange={(event) => setName(event.target.value)} required size={40}
                placeholder="e.g. Rheumatic heart disease screening" />
            </label>
            <label>
              Address (slug)
              <input value={address} onChange={(event) => { setSlug(event.target.value); setSlugEdited(true); }}
                pattern="[a-zA-Z0-9_\-]+" maxLength={64} required aria-describedby="new-project-slug-help" />
            </label>
          </div>
          <p id="new-project-slug-help" className="muted">Used in links and the API: /projects/{address || "…"}/</p>
        </section>

        <section className="card design-section" aria-labelledby="new-project-start">
          <h2 id="new-project-start">Start from</h2>
          <div className="start-options" role="radiogroup" aria-labelledby="new-project-start">
            <label className="start-option">
              <input type="radio" name="start" checked={start.kind === "blank"} onChange={() => setStart({ kind: "blank" })} />
              <span><strong>Nothing</strong><br /><span className="muted">Design the schema and stages yourself.</span></span>
            </label>
            {templates.data?.map((template) => (
              <label key={template.key} className="start-option">
                <input type="radio" name="start" checked={start.kind === "template" && start.key === template.key}
                  onChange={() => setStart({ kind: "template", key: template.key })} />
                <span>
                  <strong>{template.title}</strong><br />
                  <span className="muted">{template.description}</span><br />
                  <span className="muted">Stages: {template.stages.map((stage) => stage.name).join(" → ")}</span>
                </span>
              </label>
            ))}
            {adminOf.length > 0 && (
              <label className="start-option">
                <input type="radio" name="start" checked={start.kind === "clone"}
                  onChange={() => setStart({ kind: "clone", slug: adminOf[0].slug })} />
                <span>
                  <strong>A copy of another project's design</strong><br />
                  <span className="muted">Its schemas, stages, routing, instructions, quality rules and de-identification settings;
                    no images, items or answers.</span>
                </span>
              </label>
            )}
          </div>
          {start.kind === "clone" && (
            <label className="indented">
              Project to copy
              <select value={start.slug} onChange={(event) => setStart({ kind: "clone", slug: event.target.value })}>
                {adminOf.map((project) => <option key={project.slug} value={project.slug}>{project.name} ({project.slug})</option>)}
              </select>
            </label>
          )}
          <ErrorNotice error={templates.error ? `Pipeline templates: ${templates.error}` : null} />
        </section>

        {start.kind !== "clone" && (
          <section className="card design-section" aria-labelledby="new-project-deid">
            <h2 id="new-project-deid">De-identification</h2>
            <p className="muted">Every instance is de-identified on the way in (DICOM PS3.15 basic profile). These choices
              are made once, here: they apply to every import of the project.</p>
            <fieldset className="inline-choice">
              <legend>Dates</legend>
              <label className="inline"><input type="radio" name="dates" checked={datePolicy === "shift"} onChange={() => setDatePolicy("shift")} /> Shift per patient (intervals kept)</label>
              <label className="inline"><input type="radio" name="dates" checked={datePolicy === "remove"} onChange={() => setDatePolicy("remove")} /> Remove dates and times</label>
            </fieldset>
            <label className="inline">
              <input type="checkbox" checked={retain} onChange={(event) => setRetain(event.target.checked)} />
              {" "}Keep patient characteristics (sex, age, size, weight: needed for indexed measures)
            </label>
            <fieldset className="inline-choice">
              <legend>Burned-in text (ultrasound and screenshots)</legend>
              <label className="inline"><input type="radio" name="burned" checked={burnedIn === "quarantine"} onChange={() => setBurnedIn("quarantine")} /> Quarantine for admin review</label>
              <label className="inline"><input type="radio" name="burned" checked={burnedIn === "mask"} onChange={() => setBurnedIn("mask")} /> Black out the regions below</label>
            </fieldset>
            {burnedIn === "mask" && (
              <fieldset>
                <legend>Regions to black out on every frame (pixels from the top-left corner)</legend>
                {rules.map((rule, index) => (
                  <div key={index} className="form-row" role="group" aria-label={`Mask rule ${index + 1}`}>
                    <label>Modality<input value={rule.modality} size={4} onChange={(event) => setRule(index, { modality: event.target.value })} placeholder="US" /></label>
                    <label>x<input value={rule.x} size={5} inputMode="numeric" onChange={(event) => setRule(index, { x: event.target.value })} placeholder="0" /></label>
                    <label>y<input value={rule.y} size={5} inputMode="numeric" onChange={(event) => setRule(index, { y: event.target.value })} placeholder="0" /></label>
                    <label>Width<input value={rule.width} size={5} inputMode="numeric" onChange={(event) => setRule(index, { width: event.target.value })} placeholder="full" /></label>
                    <label>Height<input value={rule.height} size={5} inputMode="numeric" onChange={(event) => setRule(index, { height: event.target.value })} required /></label>
                    <button type="button" className="danger" onClick={() => setRules(rules.filter((_, position) => position !== index))}>
                      Remove <span className="sr-only">mask rule {index + 1}</span>
                    </button>
                  </div>
                ))}
                <button type="button" onClick={() => setRules([...rules, { modality: "US", x: "0", y: "0", width: "", height: "62" }])}>Add region</button>
                {rules.length === 0 && <p className="muted">Without a matching region, flagged instances are quarantined.</p>}
              </fieldset>
            )}
          </section>
        )}

        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>{busy ? "Creating…" : "Create project"}</button>
          <Link className="button" to="/">Cancel</Link>
        </div>
        <ErrorNotice error={error} />
        {created && error && <p><Link to={`/projects/${created}/design`}>Open the new project's design</Link></p>}
        <StatusNotice message={status} />
      </form>
    </main>
  );
}
