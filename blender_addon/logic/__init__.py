"""Plain Python + numpy logic of the Blender add-on: testable without Blender (no bpy here)."""
