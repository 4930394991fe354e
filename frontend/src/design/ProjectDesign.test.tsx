import { fireEvent, render, screen, within } from "@testing-library/react";
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
          krippendorff_alpha: { statistic: "alpha", value: null, items: 3, ratings: 6 } } } }],
      "GET /api/projects/demo/workers/": () => [200, [{ worker: "w1", stage: 7, qualification: "failed", qualification_answered: 2,
        qualification_correct: 0, gold_answered: 0, gold_correct: 0, reliability: 0.5, blocked_reason: "qualification: 0 of 2 right",
        blocked_at: null, updated_at: "" }]],
    });
    const { container } = design("/projects/demo/dashboard");

    await screen.findByText("3 of 4 items complete · 1 open");
    const charts = container.querySelectorAll("figure.chart svg");
    expect(charts[0].querySelectorAll("rect.chart-bar")).toHaveLength(24);
    expect(charts[1].querySelectorAll("rect.chart-bar")).toHaveLength(10);
    expect(charts[0].querySelector("title")?.textContent).toBe("Answers per hour, last 24 hours: Crowd");
    expect(await screen.findByText("0.63")).toBeTruthy();
    expect(screen.getByText("undefined")).toBeTruthy();
    expect(await screen.findByRole("button", { name: /Unblock w1/ })).toBeTruthy();
    expect(screen.getByText("No model has been trained yet")).toBeTruthy();
  });
});
