// Task design for a project's admins, one tab per part: the label schema with a live preview,
// the pipeline of stages and their routing, data (imports and queueing series), gold and
// qualification items, models that learn from the labels (active learning), settings (instructions,
// quality rules, members) and exports.
import { lazy, Suspense } from "react";
import { Link, NavLink, Route, Routes, useLocation, useParams } from "react-router";
import { useApi } from "../common/hooks";
import type { Stage } from "../types";
import type { Project } from "./apiTypes";
import { DesignContext, ErrorNotice, Loading } from "./parts";
import SchemaEditor from "./SchemaEditor";
import "./design.css";

const PipelineEditor = lazy(() => import("./PipelineEditor"));
const Imports = lazy(() => import("./Imports"));
const GoldItems = lazy(() => import("./GoldItems"));
const SettingsTab = lazy(() => import("./SettingsTab"));
const ExportsTab = lazy(() => import("./ExportsTab"));
const ModelsTab = lazy(() => import("./ModelsTab"));

const TABS = [
  { path: "schema", title: "Label schema" },
  { path: "pipeline", title: "Pipeline" },
  { path: "data", title: "Data" },
  { path: "gold", title: "Gold and qualification" },
  { path: "models", title: "Models" },
  { path: "settings", title: "Settings" },
  { path: "exports", title: "Exports" },
] as const;

export default function ProjectDesign() {
  const { slug = "" } = useParams();
  const project = useApi<Project>(`/api/projects/${slug}/`);
  const stages = useApi<Stage[]>(`/api/projects/${slug}/stages/`);
  const base = `/projects/${slug}/design`;
  const bare = useLocation().pathname.replace(/\/+$/, "") === base;
  const context = project.data ? { slug, project: project.data, stages } : null;

  if (project.error) {
    return (
      <main className="page">
        <h1>Design</h1>
        <ErrorNotice error={project.error} />
        <p><Link to="/">Your projects</Link></p>
      </main>
    );
  }
  if (!context) return <main className="page"><Loading what="the project" /></main>;
  if (context.project.role !== "admin") {
    return (
      <main className="page">
        <h1>{context.project.name}</h1>
        <p className="notice warn" role="alert">Only the project's admins design its tasks.</p>
        <p><Link to="/">Your projects</Link></p>
      </main>
    );
  }
  return (
    <DesignContext.Provider value={context}>
      <main className="page design">
        <div className="design-title">
          <h1>{context.project.name} <span className="muted">· design</span></h1>
          <Link className="button" to={`/projects/${slug}/dashboard`}>Dashboard</Link>
        </div>
        <nav className="tabs" aria-label="Design">
          {TABS.map((tab, index) => (
            <NavLink key={tab.path} to={`${base}/${tab.path}`}
              className={({ isActive }) => (isActive || (index === 0 && bare) ? "active" : "")}>
              {tab.title}
            </NavLink>
          ))}
        </nav>
        <Suspense fallback={<Loading what="the tab" />}>
          <Routes>
            <Route index element={<SchemaEditor />} />
            <Route path="schema" element={<SchemaEditor />} />
            <Route path="pipeline" element={<PipelineEditor />} />
            <Route path="data" element={<Imports />} />
            <Route path="gold" element={<GoldItems />} />
            <Route path="models" element={<ModelsTab />} />
            <Route path="settings" element={<SettingsTab />} />
            <Route path="exports" element={<ExportsTab />} />
            <Route path="*" element={<p className="notice warn">No such tab. <Link to={base}>Back to the design</Link></p>} />
          </Routes>
        </Suspense>
      </main>
    </DesignContext.Provider>
  );
}
