"""biomocap Blender add-on (a Blender 4.2+ extension).

Capture from video (the core runs as a subprocess), import ``.motion.npz`` bundles as an
anatomically constrained BSM-46 armature, retarget onto characters, export FBX/BVH/glTF.
``logic/`` is plain Python + numpy and imports no bpy; everything touching bpy is imported
inside ``register()`` so that ``blender_addon.logic`` can be tested without Blender.
"""

_MODULES = ("props", "ops_import", "ops_retarget", "ops_capture", "ops_export", "panels")


def _modules():
    import importlib

    return [importlib.import_module(f".{m}", __package__) for m in _MODULES]


def register() -> None:
    for m in _modules():
        m.register()


def unregister() -> None:
    for m in reversed(_modules()):
        m.unregister()
