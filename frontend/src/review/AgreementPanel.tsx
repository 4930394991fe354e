// A label stage's inter-observer agreement, per field, as GET .../agreement/ reports it: Fleiss'
// kappa and Krippendorff's alpha for categories, alpha for numbers, pairwise Dice for shapes, and the
// crowd consensus against each expert.
import { useApi } from "../common/hooks";

interface Figure { statistic?: string; value: number | null; items?: number; ratings?: number }
interface FieldFigures {
  kind: "categorical" | "number" | "shape";
  answers: number;
  fleiss_kappa?: Figure;
  krippendorff_alpha?: Figure;
  mean_dice?: number | null;
  min_dice?: number | null;
  pairs?: number;
  crowd_vs_expert?: { first: string; second: string; items: number; figures: Record<string, number | null> }[];
}
export interface StageAgreement { stage: { id: number; name: string }; items: number; fields: Record<string, FieldFigures> }

const number = (value: number | null | undefined, digits = 2) => (value === null || value === undefined ? "—" : value.toFixed(digits));

export function AgreementTable({ agreement }: { agreement: StageAgreement }) {
  const fields = Object.entries(agreement.fields);
  if (!fields.length) return <p className="muted">No answers to compare yet.</p>;
  return (
    <table>
      <thead><tr><th>Field</th><th>Answers</th><th>Agreement</th><th>Crowd vs expert</th></tr></thead>
      <tbody>
        {fields.map(([key, figures]) => (
          <tr key={key}>
            <th scope="row">{key}</th>
            <td>{figures.answers}</td>
            <td>
              {figures.fleiss_kappa && <div>Fleiss κ {number(figures.fleiss_kappa.value)}</div>}
              {figures.krippendorff_alpha && <div>Krippendorff α {number(figures.krippendorff_alpha.value)}</div>}
              {figures.kind === "shape" && <div>Dice {number(figures.mean_dice)} mean, {number(figures.min_dice)} min
                ({figures.pairs} pairs)</div>}
            </td>
            <td>{figures.crowd_vs_expert?.length ? figures.crowd_vs_expert.map((row) => (
              <div key={`${row.first}-${row.second}`}>{row.first} vs {row.second}: {Object.entries(row.figures)
                .map(([name, value]) => `${name.replace(/_/g, " ")} ${number(value)}`).join(", ")} ({row.items} items)</div>
            )) : <span className="muted">no expert labels yet</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AgreementPanel({ slug, stageId }: { slug: string; stageId: number }) {
  const agreement = useApi<StageAgreement>(`/api/projects/${slug}/stages/${stageId}/agreement/`);
  return (
    <details className="agreement">
      <summary>Agreement in “{agreement.data?.stage.name ?? "this stage"}”{agreement.data ? ` (${agreement.data.items} items)` : ""}</summary>
      {agreement.error && <p className="problem">{agreement.error}</p>}
      {agreement.data && <AgreementTable agreement={agreement.data} />}
    </details>
  );
}
