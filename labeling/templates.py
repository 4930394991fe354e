"""Built-in label schemas for the tasks cardiac labeling starts from, and whole pipelines built
on them. Admins start from these and edit them.

TEMPLATES: schema definitions (see labeling/schema.py) with a title and a short description.
PIPELINES: stages (see labeling/design.py StageDesign) whose `schema` names a template and whose
routing rules (labeling/routing.py) name stage positions.
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


PIPELINES = {
    "rheumatic-mv-screening": {
        "title": "Rheumatic mitral valve screening with expert review",
        "description": "Qualified crowd workers answer yes/no with gold mixed in; 3 to 5 answers per item until "
                       "80 % agree. Unsure items, 5 % of the rest and any 'poor image' skip go to cardiologist "
                       "review; two cardiologists who disagree go to a senior cardiologist.",
        "stages": [
            {"name": "Crowd: rheumatic MV yes/no", "schema": "rheumatic-mitral-valve", "redundancy": 3,
             "max_redundancy": 5, "confidence_target": 0.8, "gold_rate_min": 0.05, "gold_rate_max": 0.25,
             "requires_qualification": True, "lease_seconds": 600,
             "routing": [{"if": {"confidence_below": 0.8}, "then": {"send_to": 2}},
                         {"if": {"skipped_as": ["poor image quality"]}, "then": {"send_to": 2}},
                         {"if": {"random_share": 0.05}, "then": {"send_to": 2}}]},
            {"name": "Cardiologist review", "kind": "review", "audience": "expert", "redundancy": 2,
             "lease_seconds": 1800, "routing": [{"if": {"confidence_below": 1.0}, "then": {"send_to": 3}}]},
            {"name": "Senior adjudication", "kind": "adjudication", "audience": "expert", "redundancy": 1,
             "lease_seconds": 3600},
        ],
    },
    "a4c-lv-contours": {
        "title": "Find apical 4-chamber views, then trace the LV",
        "description": "A quick crowd stage classifies the view; only apical 4-chamber cines go on to a crowd "
                       "contour stage (ED and ES frames, LV endocardium), then every contour set is reviewed "
                       "by a cardiologist, who may send poor tracings back to the crowd.",
        "stages": [
            {"name": "Crowd: echo view", "schema": "echo-view-classification", "redundancy": 3,
             "max_redundancy": 5, "confidence_target": 0.67, "gold_rate_min": 0.05, "gold_rate_max": 0.2,
             "requires_qualification": True,
             "routing": [{"if": {"field": "view", "in": ["A4C"]}, "then": {"send_to": 2}}]},
            {"name": "Crowd: LV endocardium at ED and ES", "schema": "lv-endocardium-ed-es", "redundancy": 3,
             "lease_seconds": 1800, "routing": [{"if": "always", "then": {"send_to": 3}}]},
            {"name": "Cardiologist review of contours", "kind": "review", "audience": "expert", "redundancy": 1,
             "lease_seconds": 1800,
             "routing": [{"if": {"field": "_verdict", "in": ["reject"]}, "then": {"send_to": 2}}]},
        ],
    },
}
