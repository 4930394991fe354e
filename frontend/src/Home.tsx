// The start page: your projects and, per project, the stages you can work in, review, or design.
import { Link } from "react-router";
import { getBootstrap } from "./api";
import { useApi } from "./common/hooks";
import type { ProjectRef, Stage } from "./types";

const ROLE_NAMES = { crowd: "crowd worker", expert: "expert", admin: "admin" } as const;

function ProjectCard({ project }: { project: ProjectRef }) {
  const stages = useApi<Stage[]>(`/api/projects/${project.slug}/stages/`);
  const staff = project.role !== "crowd";
  return (
    <article className="card" aria-labelledby={`project-${project.slug}`}>
      <h2 id={`project-${project.slug}`}>{project.name}</h2>
      <p className="muted">You are {ROLE_NAMES[project.role]}{project.senior ? " (senior)" : ""} · <code>{project.slug}</code></p>
      {project.role === "admin" && (
        <p className="actions">
          <Link className="button" to={`/projects/${project.slug}/design`}>Design</Link>
          <Link className="button" to={`/projects/${project.slug}/dashboard`}>Dashboard</Link>
        </p>
      )}
      {stages.error && <p role="alert">{stages.error}</p>}
      {stages.data && stages.data.length === 0 && <p className="muted">No stages yet.</p>}
      <ul className="stage-list">
        {stages.data?.map((stage) => {
          const labels = stage.kind === "label" && (stage.audience === "crowd" || staff);
          const reviews = stage.kind !== "label" && staff;
          if (!labels && !reviews) return null;
          return (
            <li key={stage.id}>
              <span>{stage.position}. {stage.name} <span className="muted">({stage.kind}, {stage.audience})</span></span>
              {labels && <Link className="button primary" to={`/projects/${project.slug}/stages/${stage.id}/work`}>Label</Link>}
              {reviews && <Link className="button primary" to={`/projects/${project.slug}/stages/${stage.id}/review`}>Review queue</Link>}
            </li>
          );
        })}
      </ul>
    </article>
  );
}

export function Home() {
  const { projects, user } = getBootstrap();
  return (
    <main className="page">
      <h1>Your projects</h1>
      {projects.length === 0 && (
        <p>You are not a member of any project yet.{user.is_staff && <> <Link to="/new">Create one.</Link></>}</p>
      )}
      <div className="cards">
        {projects.map((project) => <ProjectCard key={project.slug} project={project} />)}
      </div>
    </main>
  );
}
