import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router";
import Dashboard from "./Dashboard";
import ProjectDesign from "./ProjectDesign";

const VIEWS = { fields: [
  { key: "view", kind: "single_choice", label: "View", required: true,
    options: [{ value: "A4C", label: "Apical 4-chamber", shortcut: "3" }, { value: "PLAX", label: "Parasternal long axis", shortcut: "1" }] },
] };
const PROJECT = { slug: "demo", name: "Demo", role: "admin", created_at: "", date_policy: "shift",
  retain_patient_characteristics: false, burned_in_policy: "quarantine", pixel_mask_rules: [] };
const VERSION = { name: "views", version: 1, definition: VIEWS, created_by: "admin", created_at: "2026-01-01T00:00:00Z" };

type Handler = (init: RequestInit | undefined) => [number, unknown];

/** A fetch that answers the app's API calls from a table of path → handler. */
function serve(routes: Record<string, Handler>) {
  const calls: { method: string; path: string; body: unknown }[] = [];
  vi.stubGlobal("fetch", vi.fn(async (input: string, init?: RequestInit) => {
    const path = String(input);
    const method = init?.method ?? "GET";
    calls.push({ method, path, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const handler = routes[`${method} ${path}`];
    const [status, body] = handler ? handler(init) : [404, { detail: `no route ${method} ${path}` }];
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  }));
  return calls;
}

afterEach(() => vi.unstubAllGlobals());

function design(path = "/projects/demo/design") {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route path="/projects/:slug/design/*" element={<ProjectDesign />} />
        <Route path="/projects/:slug/dashboard" element={<Dashboard />} />
      </Routes>
    </MemoryRouter>,
  );
}

const DESIGN_ROUTES: Record<string, Handler> = {
  "GET /api/projects/demo/": () => [200, PROJECT],
  "GET /api/projects/demo/stages/": () => [200, []],
  "GET /api/projects/demo/schemas/": () => [200, [VERSION]],
  "GET /api/projects/demo/schemas/views/versions/": () => [200, [VERSION]],
  "GET /api/templates/": () => [200, []],
};

describe("the schema editor", () => {
  it("opens on the bare design page and previews a new field as the worker will see it", async () => {
    serve(DESIGN_ROUTES);
    design();

    await screen.findByRole("heading", { name: /Live preview/ });
    const preview = screen.getByRole("complementary", { name: /Live preview/ });
    expect(within(preview).getByRole("radio", { name: /Apical 4-chamber/ })).toBeTruthy();
    expect(screen.getByRole("link", { name: "Label schema" }).className).toBe("active");

    fireEvent.change(screen.getByLabelText("Kind of the new field"), { target: { value: "yes_no_unsure" } });
    fireEvent.click(screen.getByRole("button", { name: "Add field" }));
    const card = screen.getAllByRole("group").find((element) => element.tagName === "DETAILS" && within(element).queryByDisplayValue("finding"))!;
    fireEvent.change(within(card).getByLabelText("Label"), { target: { value: "Pericardial effusion" } });

    expect(within(preview).getByRole("radiogroup", { name: /Pericardial effusion/ })).toBeTruthy();
    expect(within(preview).getByRole("radio", { name: /Unsure/ })).toBeTruthy();
  });

  it("saves a new version with the edited definition and shows the server's refusal next to the field", async () => {
    let refuse = false;
    const calls = serve({ ...DESIGN_ROUTES,
      "POST /api/projects/demo/schemas/": () => (refuse
        ? [400, { definition: { view: ["a choice needs at least two options"] } }]
        : [201, { ...VERSION, version: 2 }]) });
    design("/projects/demo/design/schema");
    await screen.findByRole("heading", { name: /Live preview/ });

    fireEvent.change(screen.getByDisplayValue("Apical 4-chamber"), { target: { value: "Apical four-chamber" } });
    fireEvent.click(screen.getByRole("button", { name: "Save as version 2" }));
    await screen.findByText("Saved views version 2.");
    refuse = true;
    fireEvent.change(screen.getByDisplayValue("Apical four-chamber"), { target: { value: "A4C view" } });
    fireEvent.click(screen.getByRole("button", { name: "Save as version 2" }));

    expect(await screen.findByText("a choice needs at least two options")).toBeTruthy();
    const saved = calls.filter((call) => call.method === "POST");
    expect(saved[0].body).toEqual({ name: "views", definition: { fields: [{ ...VIEWS.fields[0],
      options: [{ value: "A4C", label: "Apical four-chamber", shortcut: "3" }, VIEWS.fields[0].options[1]] }] } });
    expect(screen.getByText("The server refused the schema; see the fields marked.")).toBeTruthy();
    expect(screen.getByText("a choice needs at least two options").closest("details")?.className).toContain("invalid");
  });

  it("tells a project member who is not an admin that design is for admins", async () => {
    serve({ ...DESIGN_ROUTES, "GET /api/projects/demo/": () => [200, { ...PROJECT, role: "expert" }] });
    design();

    expect(await screen.findByText("Only the project's admins design its tasks.")).toBeTruthy();
  });
});

describe("the dashboard", () => {
  const stage = { id: 7, name: "Crowd", kind: "label", audience: "crowd", position: 1,
    tasks: { total: 4, open: 1, complete: 3 }, answers: 6, answers_last_24h: 4,
    throughput: [1, ...new Array(21).fill(0), 1, 2], confidence_histogram: [1, 0, 0, 0, 0, 1, 0, 0, 0, 1], mean_confidence: 0.5 };

  it("draws a bar per hour and per confidence bin, and lists the agreement and the workers", async () => {
    serve({
      "GET /api/projects/demo/": () => [200, PROJECT],
      "GET /api/projects/demo/stages/": () => [200, [{ id: 7, position: 1, name: "Crowd" }]],
      "GET /api/projects/demo/dashboard/": () => [200, { generated_at: "2026-01-01T00:00:00Z",
        items: { total: 5, accepted: 1, rejected: 1, in_progress: 3 }, stages: [stage] }],
      "GET /api/projects/demo/stages/7/agreement/": () => [200, { stage: { id: 7, name: "Crowd" }, items: 3, fields: {
        view: { kind: "categorical", answers: 6, fleiss_kappa: { statistic: "fleiss_kappa", value: 0.625, items: 3, ratings: 6 },
          krippendorff_alpha: { statistic: "alpha", value: null, items: 3, ratings: 6 } },
        lv_length: { kind: "measurement", unit: "mm", answers: 6, crowd: {
          icc: { form: "ICC(1,1)", value: 0.91, lower: 0.7, upper: 0.98, confidence: 0.95, items: 3, raters: 2 },
          bland_altman: { pairs: 3, bias: 0.5, sd: 1, lower_limit: -1.46, upper_limit: 2.46 },
          plot: [[40, 1], [50, -0.5], [60, 1]] } },
        lv: { kind: "shape", answers: 6, pairs: 3, mean_dice: 0.9, min_dice: 0.8,
          hausdorff: { count: 3, mean: 2.5, median: 2, min: 1, max: 4.1, unit: "mm" } } } }],
      "GET /api/projects/demo/workers/": () => [200, [{ worker: "w1", stage: 7, qualification: "failed", qualification_answered: 2,
        qualification_correct: 0, gold_answered: 0, gold_correct: 0, reliability: 0.5, blocked_reason: "qualification: 0 of 2 right",
        blocked_at: null, updated_at: "" }]],
      "GET /api/projects/demo/models/": () => [200, []],
    });
    const { container } = design("/projects/demo/dashboard");

    await screen.findByText("3 of 4 items complete · 1 open");
    const charts = container.querySelectorAll("figure.chart svg");
    expect(charts[0].querySelectorAll("rect.chart-bar")).toHaveLength(24);
    expect(charts[1].querySelectorAll("rect.chart-bar")).toHaveLength(10);
    expect(charts[0].querySelector("title")?.textContent).toBe("Answers per hour, last 24 hours: Crowd");
    expect(await screen.findByText("0.63")).toBeTruthy();
    expect(screen.getByText("undefined")).toBeTruthy();
    const limits = "ICC(1,1) 0.91 (95 % CI 0.70 to 0.98); bias 0.50 mm, limits -1.46 to 2.46 mm";
    expect(screen.getAllByText(limits)).toHaveLength(2);  // in the table and under its plot
    const plot = container.querySelector("figure.bland-altman svg");
    expect(plot?.querySelector("title")?.textContent).toBe("Bland-Altman, lv_length: crowd (first vs second reading)");
    expect(plot?.querySelectorAll("circle.chart-point")).toHaveLength(3);
    expect(plot?.querySelectorAll("g.chart-limit")).toHaveLength(2);
    expect(screen.getByText("Hausdorff 2.50 mean, 4.10 max mm")).toBeTruthy();
    expect(await screen.findByRole("button", { name: /Unblock w1/ })).toBeTruthy();
    expect(screen.getByText("No model has been trained yet")).toBeTruthy();
  });
});

const CROWD_STAGE = { id: 7, position: 1, name: "Crowd", kind: "label", audience: "crowd", schema: "views", schema_version: 1,
  redundancy: 3, max_redundancy: 5, confidence_target: 0, gold_rate_min: 0, gold_rate_max: 0, requires_qualification: false,
  show_prelabels: false, lease_seconds: 600, routing: [] };
const REVIEW_STAGE = { ...CROWD_STAGE, id: 8, position: 2, name: "Review", kind: "review", audience: "expert", schema: null,
  schema_version: null, redundancy: 1, max_redundancy: 1 };

function versionOf(number: number, labels: number, metrics: Record<string, unknown>, kind = "train") {
  return { id: 40 + number, number, kind, parent: null, sha256: "ab".repeat(32), size: 2048, labels_used: labels, metrics,
    history: [0.9, 0.4], created_at: "2026-01-01T00:00:00Z" };
}

const MODEL = { id: 3, name: "Crowd: view", stage: 7, field: "view", task: "classification", labels: ["A4C", "PLAX"], network: {},
  strategy: "tcm", batch_size: 20, retrain_every: 50, retrain_hours: 0, epochs: 40, train_layers: "auto", start_from: null,
  has_checkpoint: false, created_at: "", versions: [] as ReturnType<typeof versionOf>[] };

describe("the model learning curve", () => {
  it("plots each measured train version against its labels and says which have no figure", async () => {
    serve({
      "GET /api/projects/demo/": () => [200, PROJECT],
      "GET /api/projects/demo/stages/": () => [200, [CROWD_STAGE]],
      "GET /api/projects/demo/dashboard/": () => [200, { generated_at: "2026-01-01T00:00:00Z",
        items: { total: 0, accepted: 0, rejected: 0, in_progress: 0 }, stages: [] }],
      "GET /api/projects/demo/workers/": () => [200, []],
      "GET /api/projects/demo/models/": () => [200, [{ ...MODEL, versions: [versionOf(1, 20, { n: 0 }),
        versionOf(2, 0, { images: 80 }, "pretrain"), versionOf(3, 60, { accuracy: 0.75, auc: 0.8, n: 8 }),
        versionOf(4, 100, { accuracy: 0.875, auc: 0.9, n: 8 })] }]],
    });
    const { container } = design("/projects/demo/dashboard");

    const heading = await screen.findByRole("heading", { name: /Crowd: view/ });
    const article = heading.closest("article")!;
    expect(article.querySelectorAll("circle.chart-point")).toHaveLength(2);
    expect(article.querySelector("path.chart-line")?.getAttribute("d")).toMatch(/^M[\d.]+ [\d.]+ L[\d.]+ [\d.]+$/);
    expect(within(article as HTMLElement).getByText(/Accuracy from 0.750 with 60 labels to 0.875 with 100 labels/, { selector: "p" })).toBeTruthy();
    expect(within(article as HTMLElement).getAllByText(/Version 1 has no accuracy/).length).toBeGreaterThan(0);
    const rows = [...article.querySelectorAll(".chart-data tbody tr")].map((row) => row.textContent);
    expect(rows).toEqual(["120none (no held-out labels)—0", "3600.7500.8008", "41000.8750.9008"]);
    expect(container.textContent).not.toContain("No model has been trained yet");
  });
});

describe("the models tab", () => {
  const routes = (models: () => unknown[]): Record<string, Handler> => ({
    ...DESIGN_ROUTES,
    "GET /api/projects/demo/stages/": () => [200, [CROWD_STAGE, REVIEW_STAGE]],
    "GET /api/projects/demo/models/": () => [200, models()],
    "GET /api/projects/demo/models/3/runs/": () => [200, []],
    "GET /api/projects/demo/models/3/predictions/": () => [200, []],
  });

  it("adds a model for a field of a label stage and shows the server's refusal by the field", async () => {
    let refuse = true;
    const models: unknown[] = [];
    const calls = serve({ ...routes(() => models),
      "POST /api/projects/demo/models/": () => (refuse ? [400, { size: ["Ensure this value is less than or equal to 512."] }]
        : (models.push(MODEL), [201, MODEL])) });
    design("/projects/demo/design/models");

    await screen.findByText("No model yet: add one below.");
    expect(screen.getByRole("link", { name: "Models" }).className).toBe("active");
    const field = await screen.findByLabelText("Field");
    await waitFor(() => expect((field as HTMLSelectElement).value).toBe("view"));
    expect(screen.getByLabelText("Label stage").querySelectorAll("option")).toHaveLength(1); // label stages only
    fireEvent.change(screen.getByLabelText("Strategy"), { target: { value: "bald" } });
    expect(screen.getByText(/Monte-Carlo dropout disagreement/, { selector: ".hint" })).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Add model" }));

    expect(await screen.findByText("Ensure this value is less than or equal to 512.")).toBeTruthy();
    expect(screen.getByText("The server refused the model; see the fields marked.")).toBeTruthy();
    refuse = false;
    fireEvent.click(screen.getByRole("button", { name: "Add model" }));

    expect(await screen.findByRole("heading", { name: "Crowd: view" })).toBeTruthy();
    const posted = calls.filter((call) => call.method === "POST").map((call) => call.body);
    expect(posted[1]).toEqual({ stage: 7, field: "view", size: 64, strategy: "bald", batch_size: 20, retrain_every: 50,
      retrain_hours: 0, epochs: 40, train_layers: "auto" });
  });

  it("trains a model, follows the run every second until it is done, and shows what it wants labeled next", async () => {
    let polls = 0;
    let trained = false;
    const calls = serve({ ...routes(() => [trained ? { ...MODEL, versions: [versionOf(1, 30, { accuracy: 0.8, auc: 0.85, n: 5 })] } : MODEL]),
      "POST /api/projects/demo/models/3/runs/": () => [202, { id: 11, model: 3, kind: "train", status: "queued", trigger: "manual",
        requested_by: "admin", requested_at: "", started_at: null, finished_at: null, progress: 0, stage_of_work: "",
        cancel_requested: false, device: "", labels_used: 0, version: null, error: "" }],
      "GET /api/projects/demo/training-runs/11/": () => {
        polls += 1;
        if (polls >= 2) trained = true;
        return [200, { id: 11, model: 3, kind: "train", status: polls < 2 ? "running" : "succeeded", trigger: "manual",
          requested_by: "admin", requested_at: "", started_at: "", finished_at: polls < 2 ? null : "", progress: polls < 2 ? 0.4 : 1,
          stage_of_work: polls < 2 ? "epoch 16/40" : "done", cancel_requested: false, device: "cpu", labels_used: 30,
          version: polls < 2 ? null : 1, error: "" }];
      },
      "GET /api/projects/demo/models/3/predictions/": () => [200, trained ? [
        { item: 501, version: 1, value: "PLAX", probability: 0.51, probabilities: { PLAX: 0.51, A4C: 0.49 }, uncertainty: 0.693, created_at: "" },
        { item: 502, version: 1, value: "A4C", probability: 0.9, probabilities: { A4C: 0.9, PLAX: 0.1 }, uncertainty: 0.325, created_at: "" },
      ] : []],
    });
    design("/projects/demo/design/models");

    fireEvent.click(await screen.findByRole("button", { name: "Train now Crowd: view" }));

    expect(await screen.findByText("Training: waiting for a worker")).toBeTruthy();
    expect(await screen.findByText("Training: 40 %, epoch 16/40 on cpu", {}, { timeout: 3000 })).toBeTruthy();
    expect(screen.getByRole("progressbar", { name: /Run 11 of Crowd: view/ }).getAttribute("aria-valuenow")).toBe("40");
    expect(await screen.findByText("Training: done, version 1 from 30 labels", {}, { timeout: 3000 })).toBeTruthy();
    const cell = await screen.findByText("Apical 4-chamber (A4C)");
    expect(cell.closest("tr")?.textContent).toContain("502");
    expect(await screen.findByText(/In force: version 1, trained on 30 labels/)).toBeTruthy();
    expect(calls.filter((call) => call.path === "/api/projects/demo/models/3/runs/" && call.method === "POST")[0].body).toEqual({ kind: "train" });
  });
});

describe("the routing rule builder", () => {
  it("builds a rule on the stage's model and saves it", async () => {
    const calls = serve({ ...DESIGN_ROUTES,
      "GET /api/projects/demo/stages/": () => [200, [CROWD_STAGE, REVIEW_STAGE]],
      "GET /api/projects/demo/models/": () => [200, [MODEL]],
      "GET /api/pipeline-templates/": () => [200, []],
      "PUT /api/projects/demo/stages/7/routing/": () => [200, {}],
    });
    design("/projects/demo/design/pipeline");

    fireEvent.click(await screen.findByRole("button", { name: "Edit Crowd" }));
    fireEvent.click(screen.getByRole("button", { name: "Add rule" }));
    const rule = screen.getByRole("group", { name: "Rule 1" });
    fireEvent.click(within(rule).getByLabelText("Consensus confidence below"));
    fireEvent.click(within(rule).getByLabelText(/The model's prediction for “view”/));
    fireEvent.change(within(rule).getByLabelText("Whether the model agrees with the consensus in rule 1"), { target: { value: "disagrees" } });
    fireEvent.change(within(rule).getByLabelText("Then"), { target: { value: "one_more" } });

    expect(within(rule).getByText("If the model disagrees with the consensus on “view”: ask for one more answer (up to 5 answers per item).")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Save routing" }));
    await screen.findByText("Routing saved.");
    expect(calls.find((call) => call.method === "PUT")?.body).toEqual({ routing: [{ if: { model_agrees: false }, then: "one_more" }] });
  });
});

describe("the consensus method", () => {
  it("is pinned per stage in the pipeline editor, with a line on what each method is for", async () => {
    const calls = serve({ ...DESIGN_ROUTES,
      "GET /api/projects/demo/stages/": () => [200, [{ ...CROWD_STAGE, consensus_method: "auto" }, REVIEW_STAGE]],
      "GET /api/projects/demo/models/": () => [200, []],
      "GET /api/pipeline-templates/": () => [200, []],
      "PATCH /api/projects/demo/stages/7/": () => [200, { ...CROWD_STAGE, consensus_method: "mace" }],
    });
    design("/projects/demo/design/pipeline");

    fireEvent.click(await screen.findByRole("button", { name: "Edit Crowd" }));
    const select = screen.getByLabelText("Consensus method");
    expect(screen.getByText(/each run picks the method/)).toBeTruthy();
    fireEvent.change(select, { target: { value: "mace" } });
    expect(screen.getByText(/spammers who answer at random/)).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Save settings" }));

    await screen.findByText("Saved: consensus_method.");
    expect(calls.find((call) => call.method === "PATCH")?.body).toEqual({ consensus_method: "mace" });
  });

  it("shows on the dashboard what the last run used per field and why auto chose it", async () => {
    const stage = { id: 7, name: "Crowd", kind: "label", audience: "crowd", position: 1,
      tasks: { total: 1, open: 0, complete: 1 }, answers: 2, answers_last_24h: 2, throughput: new Array(24).fill(0),
      confidence_histogram: new Array(10).fill(0), mean_confidence: null, consensus_method: "auto",
      last_run: { id: 12, method: "one_coin", finished_at: null, fields: { view: { requested: "auto", method: "onecoin",
        basis: "answers_per_worker", reason: "onecoin by default: the typical answer's worker gave 3 answers",
        scores: { ds: { known_items: 12, known_accuracy: 0.75 }, onecoin: { known_items: 12, known_accuracy: 0.9 } } } } },
      proposals: { in_review: 0, unrouted: 2 } };
    serve({
      "GET /api/projects/demo/": () => [200, PROJECT],
      "GET /api/projects/demo/stages/": () => [200, [{ id: 7, position: 1, name: "Crowd" }]],
      "GET /api/projects/demo/dashboard/": () => [200, { generated_at: "2026-01-01T00:00:00Z",
        items: { total: 1, accepted: 1, rejected: 0, in_progress: 0 }, stages: [stage] }],
      "GET /api/projects/demo/stages/7/agreement/": () => [200, { stage: { id: 7, name: "Crowd" }, items: 0, fields: {} }],
      "GET /api/projects/demo/workers/": () => [200, []],
      "GET /api/projects/demo/models/": () => [200, []],
    });
    design("/projects/demo/dashboard");

    const panel = await screen.findByTestId("consensus-method-7");
    expect(within(panel).getByText(/onecoin by default: the typical answer's worker gave 3 answers/)).toBeTruthy();
    expect(within(panel).getByRole("rowheader", { name: "onecoin ✓" })).toBeTruthy();
    expect(within(panel).getByText("0.900")).toBeTruthy();
    expect(within(panel).getByRole("status").textContent).toContain("2 with no review stage to go to");
  });
});
