"""Offscreen OpenGL for pyrender: EGL first, OSMesa as fallback, one clear error when neither works.

The platform must be chosen before PyOpenGL is imported, so it is probed with ctypes (no import).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

import numpy as np

from ..errors import TalkfaceError, stop_signals_held

_HINT = (
    "install EGL (Debian: libegl1 libgl1-mesa-dri) or OSMesa (libosmesa6, then "
    "pip install --no-deps PyOpenGL==3.1.10 and set PYOPENGL_PLATFORM=osmesa)"
)


def _egl_works() -> bool:
    """Can an EGL display be initialised? Tries the default display, then the first EGL device
    (headless machines have only devices, which is what pyrender uses)."""
    try:
        egl = ctypes.CDLL(ctypes.util.find_library("EGL") or "libEGL.so.1")
    except OSError:
        return False
    vp = ctypes.c_void_p
    egl.eglGetDisplay.restype, egl.eglGetDisplay.argtypes = vp, [vp]
    egl.eglInitialize.argtypes = [vp, vp, vp]
    egl.eglGetProcAddress.restype, egl.eglGetProcAddress.argtypes = vp, [ctypes.c_char_p]
    egl.eglTerminate.argtypes = [vp]
    display = egl.eglGetDisplay(None)
    if display and egl.eglInitialize(display, None, None):
        egl.eglTerminate(display)
        return True
    query, get_display = (
        egl.eglGetProcAddress(n) for n in (b"eglQueryDevicesEXT", b"eglGetPlatformDisplayEXT")
    )
    if not query or not get_display:
        return False
    query_devices = ctypes.CFUNCTYPE(
        ctypes.c_uint, ctypes.c_int, ctypes.POINTER(vp), ctypes.POINTER(ctypes.c_int)
    )(query)
    platform_display = ctypes.CFUNCTYPE(vp, ctypes.c_uint, vp, vp)(get_display)
    devices, count = (vp * 4)(), ctypes.c_int(0)
    if not query_devices(4, devices, ctypes.byref(count)) or count.value == 0:
        return False
    display = platform_display(0x313F, devices[0], None)  # EGL_PLATFORM_DEVICE_EXT
    ok = bool(display) and bool(egl.eglInitialize(display, None, None))
    if ok:
        egl.eglTerminate(display)
    return ok


def choose_platform() -> str:
    """Set PYOPENGL_PLATFORM (unless the user set it) and return it."""
    if os.environ.get("PYOPENGL_PLATFORM"):
        return os.environ["PYOPENGL_PLATFORM"]
    if _egl_works():
        platform = "egl"
    elif ctypes.util.find_library("OSMesa"):
        platform = "osmesa"
    else:
        raise TalkfaceError(f"offscreen rendering is unavailable: neither EGL nor OSMesa works; {_HINT}")
    os.environ["PYOPENGL_PLATFORM"] = platform
    return platform


def import_pyrender():  # noqa: ANN201 - returns the module
    """pyrender, imported after choosing the platform; numpy 2 lacks np.infty, which it uses.
    Stop signals wait for the import: trimesh, which pyrender imports, keeps any exception from an
    optional import in place of the module, so a Ctrl-C there was lost, and the render then hung."""
    with stop_signals_held():
        choose_platform()
        if not hasattr(np, "infty"):
            np.infty = np.inf
        try:
            import pyrender
        except Exception as e:  # noqa: BLE001 - any import failure of the GL stack is reported as one line
            raise TalkfaceError(f"pyrender could not load OpenGL ({e}); {_HINT}") from None
    return pyrender


def open_renderer(pyrender, width: int, height: int):  # noqa: ANN001, ANN201 - pyrender's types
    """pyrender's OffscreenRenderer, or the one-line error of a GL context that does not open."""
    try:
        return pyrender.OffscreenRenderer(width, height)
    except Exception as e:  # noqa: BLE001 - GL context creation fails in many library-specific ways
        raise TalkfaceError(f"cannot open an offscreen OpenGL context ({e})") from None


@functools.cache
def gl_limits() -> tuple[int, int]:
    """The largest square (pixels a side: renderbuffers' and viewports' limit) and the most
    multisample samples this machine's OpenGL draws offscreen, read from a small context. Past
    them pyrender's first draw failed with a GL traceback (llvmpipe: 16384, 4)."""
    pyrender = import_pyrender()
    from OpenGL import GL

    with stop_signals_held():
        probe = open_renderer(pyrender, 16, 16)
        try:
            probe._platform.make_current()
            dims = np.ravel(GL.glGetIntegerv(GL.GL_MAX_VIEWPORT_DIMS))
            side = min(int(GL.glGetIntegerv(GL.GL_MAX_RENDERBUFFER_SIZE)), *map(int, dims))
            return side, int(GL.glGetIntegerv(GL.GL_MAX_SAMPLES))
        finally:
            probe.delete()
