"""Built-in label schemas for the tasks cardiac labeling starts from. Admins clone and edit them.

Each is a schema definition (see labeling/schema.py) with a name and a short description.
"""
ECHO_VIEWS = [
    ("PLAX", "Parasternal long axis", "1"), ("PSAX", "Parasternal short axis", "2"),
    ("A4C", "Apical 4-chamber", "3"), ("A2C", "Apical 2-chamber", "4"), ("A3C", "Apical 3-chamber (long axis)", "5"),
    ("A5C", "Apical 5-chamber", "6"), ("SC", "Subcostal", "7"), ("SSN", "Suprasternal notch", "8"),
    ("OTHER", "Other / not a standard view", "0"),
]

TEMPLATES = {
    "echo-view-classification": {
        "title": "Echo view classification",
        "description": "Which standard transthoracic view is this cine? Skip images too poor to tell.",
        "schema": {"fields": [
            {"key": "view", "kind": "single_choice", "label": "View", "required": True,
             "options": [{"value": value, "label": label, "shortcut": key} for value, label, key in ECHO_VIEWS]},
            {"key": "quality", "kind": "single_choice", "label": "Image quality", "required": True, "options": [
                {"value": "good", "label": "Good", "shortcut": "g"},
                {"value": "fair", "label": "Fair", "shortcut": "f"},
                {"value": "poor", "label": "Poor", "shortcut": "x"}]},
            {"key": "comment", "kind": "text", "label": "Comment", "max_length": 500},
        ]},
    },
    "rheumatic-mitral-valve": {
        "title": "Rheumatic mitral valve disease: yes / no",
        "description": "Does the mitral valve show rheumatic changes (thickened anterior leaflet, restricted "
                       "posterior leaflet, 'hockey-stick' doming)?",
        "schema": {"fields": [
            {"key": "rheumatic", "kind": "yes_no_unsure", "label": "Rheumatic mitral valve changes", "required": True},
            {"key": "features", "kind": "multiple_choice", "label": "Features seen",
             "show_if": {"field": "rheumatic", "in": ["yes"]}, "options": [
                 {"value": "aml_thickening", "label": "Anterior leaflet thickening", "shortcut": "a"},
                 {"value": "pml_restriction", "label": "Restricted posterior leaflet", "shortcut": "r"},
                 {"value": "aml_doming", "label": "Anterior leaflet doming", "shortcut": "d"},
                 {"value": "mitral_regurgitation", "label": "Pathological mitral regurgitation", "shortcut": "m"}]},
            {"key": "comment", "kind": "text", "label": "Comment", "max_length": 500},
        ]},
    },
    "lv-endocardium-ed-es": {
        "title": "LV endocardium at end-diastole and end-systole",
        "description": "Mark the end-diastolic and end-systolic frames, then trace the left-ventricular "
                       "endocardium on each (exclude papillary muscles and trabeculae).",
        "schema": {"fields": [
            {"key": "phases", "kind": "frame_selection", "label": "ED and ES frames", "labels": ["ED", "ES"],
             "required": True},
            {"key": "endocardium_ed", "kind": "contour", "label": "Endocardium at ED", "required": True},
            {"key": "endocardium_es", "kind": "contour", "label": "Endocardium at ES", "required": True},
            {"key": "comment", "kind": "text", "label": "Comment", "max_length": 500},
        ]},
    },
    "lvef-estimate": {
        "title": "LVEF estimate",
        "description": "Estimate the left-ventricular ejection fraction by eye (visual EF), in percent.",
        "schema": {"fields": [
            {"key": "lvef", "kind": "number", "label": "LVEF", "unit": "%", "min": 5, "max": 90, "step": 1,
             "required": True},
            {"key": "confidence", "kind": "single_choice", "label": "Your confidence", "options": [
                {"value": "high", "label": "High", "shortcut": "h"},
                {"value": "low", "label": "Low", "shortcut": "l"}]},
        ]},
    },
}
