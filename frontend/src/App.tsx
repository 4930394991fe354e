// Routes of the browser app. Every screen reads and writes through the REST API; the server decides
// stages, consensus and what counts as done.
import { lazy, Suspense } from "react";
import { Link, NavLink, Route, Routes } from "react-router";
import { getBootstrap } from "./api";
import { Home } from "./Home";

const LabelingScreen = lazy(() => import("./labeling/LabelingScreen"));
const ReviewScreen = lazy(() => import("./review/ReviewScreen"));
const ProjectDesign = lazy(() => import("./design/ProjectDesign"));
const NewProject = lazy(() => import("./design/NewProject"));
const Dashboard = lazy(() => import("./design/Dashboard"));

export function App() {
  const { user } = getBootstrap();
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">CardioCrowd</Link>
        <nav aria-label="Main">
          <NavLink to="/" end>Projects</NavLink>
          {user.is_staff && <NavLink to="/new">New project</NavLink>}
        </nav>
        <span className="user">
          {user.username}
          <form method="post" action="/accounts/logout/">
            <input type="hidden" name="csrfmiddlewaretoken" value={getBootstrap().csrf_token} />
            <button type="submit" className="link">Sign out</button>
          </form>
        </span>
      </header>
      <Suspense fallback={<main className="page" role="status">Loading…</main>}>
        <Routes>
          <Route path="/" element={<Home />} />
          <Route path="/new" element={<NewProject />} />
          <Route path="/projects/:slug/stages/:stageId/work" element={<LabelingScreen />} />
          <Route path="/projects/:slug/stages/:stageId/review" element={<ReviewScreen />} />
          <Route path="/projects/:slug/design/*" element={<ProjectDesign />} />
          <Route path="/projects/:slug/dashboard" element={<Dashboard />} />
          <Route path="*" element={<main className="page"><h1>Not found</h1><p><Link to="/">Your projects</Link></p></main>} />
        </Routes>
      </Suspense>
    </div>
  );
}
