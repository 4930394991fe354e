import { fireEvent, render, screen } from "@testing-library/react";
import fixtures from "./fixtures/answers.json";
import type { Schema } from "../types";
import { SchemaForm, type SchemaFormProps } from "./SchemaForm";
import { assignShortcuts, RESERVED_KEYS } from "./shortcuts";

const schema = fixtures.schema as Schema;

function renderForm(overrides: Partial<SchemaFormProps> = {}) {
  const onChange = vi.fn();
  const onSelectField = vi.fn();
  const props: SchemaFormProps = {
    schema, draft: {}, onChange, onSelectField, shortcuts: assignShortcuts(schema), activeField: null,
    position: { instance: "2.25.1", frame: 7, frames: 120 }, ...overrides,
  };
  render(<SchemaForm {...props} />);
  return { onChange, onSelectField };
}

describe("SchemaForm", () => {
  it("renders a single choice as radio buttons with their shortcuts and reports the choice", () => {
    const { onChange } = renderForm();

    const group = screen.getByRole("radiogroup", { name: /view/ });
    const a4c = screen.getByRole("radio", { name: /Apical 4-chamber/ });
    fireEvent.click(a4c);

    expect(group).toBeTruthy();
    expect(a4c.getAttribute("aria-keyshortcuts")).toBe("4");
    expect(onChange).toHaveBeenCalledWith("view", "A4C");
  });

  it("shows a field only when its show_if condition holds", () => {
    renderForm({ draft: { view: "PLAX" } });
    expect(screen.queryByText("lv")).toBeNull();
  });

  it("shows the contour tool once the condition holds, with the drawn area in mm", () => {
    renderForm({ draft: { view: "A4C", lv: { frame: 3, points: [[0, 0], [100, 0], [100, 100], [0, 100]], instance: "2.25.1" } },
      calibration: { rowMm: 0.3, columnMm: 0.3, source: "ultrasound_region" } });

    expect(screen.getByRole("button", { name: /Draw contour/ })).toBeTruthy();
    expect(screen.getByText("9.00 cm² on frame 3")).toBeTruthy();
  });

  it("marks ED on the frame shown", () => {
    const { onChange } = renderForm();

    fireEvent.click(screen.getByRole("button", { name: /Mark ED/ }));

    expect(onChange).toHaveBeenCalledWith("phases", { ED: 7, instance: "2.25.1" });
  });

  it("toggles a multiple choice option and selects a tool", () => {
    const { onChange, onSelectField } = renderForm({ draft: { valves: ["MR"] } });

    fireEvent.click(screen.getByRole("checkbox", { name: /AR/ }));
    fireEvent.click(screen.getByRole("button", { name: /Measure/ }));

    expect(onChange).toHaveBeenCalledWith("valves", ["MR", "AR"]);
    expect(onSelectField).toHaveBeenCalledWith("lvidd");
  });

  it("names the problem under its field", () => {
    renderForm({ problems: { lvef: "at most 90 %" } });
    expect(screen.getByRole("alert").textContent).toBe("lvef: at most 90 %");
  });
});

describe("assignShortcuts", () => {
  it("keeps the admin's shortcuts and gives every other choice, tool and frame mark a free key", () => {
    const { byKey, forField } = assignShortcuts(schema);

    expect(forField.get("view:A4C")).toBe("4");
    expect(forField.get("view:PLAX")).toBe("1");
    for (const name of ["valves:MR", "effusion:yes", "lv", "lvidd", "apex", "box", "mask", "phases:ED", "phases:ES"]) {
      expect(forField.get(name), name).toBeTruthy();
    }
    expect(new Set(forField.values()).size).toBe(forField.size);
    for (const key of byKey.keys()) expect(RESERVED_KEYS.has(key)).toBe(false);
  });
});
