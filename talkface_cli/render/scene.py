"""A reusable pyrender scene for one mesh topology: per frame only the vertex buffer changes.

Building a pyrender Mesh and renderer costs far more than drawing; `MeshRenderer` builds them once
and, per frame, writes new positions and normals into the existing OpenGL vertex buffer
(`glBufferSubData`, pyrender's interleaved position + normal layout).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..errors import stop_signals_held
from ..face.geometry import vertex_normals
from .camera import OrthoCamera
from .gl import import_pyrender, open_renderer

SKIN = (0.82, 0.80, 0.78, 1.0)
SHADERS = Path(__file__).parent / "shaders"
BACKGROUND = (0.16, 0.17, 0.19)


def look_at_pose(center: np.ndarray, distance: float) -> np.ndarray:
    """Camera-to-world pose of a camera at `center` + distance along +z, looking along -z."""
    pose = np.eye(4)
    pose[:3, 3] = center + np.array([0.0, 0.0, distance])
    return pose


def _set_msaa(pyrender, samples: int) -> None:  # noqa: ANN001
    """pyrender always renders into a 4x multisampled framebuffer; on a software rasteriser that
    halves the frame rate. This swaps the sample count in the call pyrender makes (0 = off)."""
    from OpenGL import GL

    pyrender.renderer.glRenderbufferStorageMultisample = lambda target, _, fmt, w, h: (
        GL.glRenderbufferStorageMultisample(target, samples, fmt, w, h)
    )


class MeshRenderer:
    """Render (V, 3) vertex arrays of one topology to RGB frames (H, W, 3) uint8.

    `msaa`: multisample anti-aliasing samples (0 = off, the fast default; 4 = smooth edges).
    The perspective camera frames `frame` (default: all vertices) from the front; `ortho` replaces
    it with the differentiable renderer's orthographic camera.
    """

    def __init__(
        self,
        template: np.ndarray,
        faces: np.ndarray,
        size: int = 512,
        frame: np.ndarray | None = None,
        yfov: float = math.radians(18),
        msaa: int = 0,
        ortho: OrthoCamera | None = None,
        double_sided: bool = True,
    ):
        pyrender = import_pyrender()
        _set_msaa(pyrender, msaa)
        self.faces_t = torch.as_tensor(faces, dtype=torch.long)
        frame = template if frame is None else frame
        lo, hi = frame.min(0), frame.max(0)
        center = (lo + hi) / 2
        radius = float(np.max(hi[:2] - lo[:2])) / 2 * 1.12
        distance = radius / math.tan(yfov / 2) + float(hi[2] - center[2])
        normals = vertex_normals(torch.as_tensor(template, dtype=torch.float32), self.faces_t).numpy()
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=SKIN, metallicFactor=0.0, roughnessFactor=0.7, doubleSided=double_sided
        )
        self.primitive = pyrender.Primitive(
            positions=template.astype(np.float32),
            normals=normals,
            indices=np.asarray(faces, np.uint32),
            material=material,
            mode=4,
        )
        scene = pyrender.Scene(bg_color=(*BACKGROUND, 1.0), ambient_light=(0.25, 0.25, 0.25))
        scene.add(pyrender.Mesh([self.primitive]))
        if ortho is None:
            camera = pyrender.PerspectiveCamera(yfov=yfov, znear=distance * 0.1, zfar=distance * 10)
            scene.add(camera, pose=look_at_pose(center, distance))
        else:  # the differentiable renderer's camera, for comparing the two
            camera = pyrender.OrthographicCamera(
                xmag=ortho.half_extent, ymag=ortho.half_extent, znear=1e-3, zfar=10 * ortho.half_extent
            )
            pose = np.eye(4)
            pose[:3, 3] = ortho.center
            scene.add(camera, pose=pose)
        self.scene, self.size = scene, size
        self._flags = pyrender.RenderFlags.NONE
        with stop_signals_held():  # every GL call: see stop_signals_held
            self.renderer = open_renderer(pyrender, size, size)
            # Our own light-weight "clay" shaders (shaders/mesh.*) in place of pyrender's PBR shader,
            # which costs most of the frame time on a software rasteriser; lighting is in the shader.
            self.renderer._renderer._program_cache = pyrender.shader_program.ShaderProgramCache(
                shader_dir=str(SHADERS)
            )
            self.renderer.render(scene, flags=self._flags)  # uploads the buffers once

    def render(self, verts: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
        """verts (V, 3) [, unit normals (V, 3)] -> RGB (size, size, 3) uint8."""
        from OpenGL import GL

        v = torch.as_tensor(verts, dtype=torch.float32)
        n = (
            vertex_normals(v, self.faces_t)
            if normals is None
            else torch.as_tensor(normals, dtype=torch.float32)
        )
        data = np.ascontiguousarray(torch.cat([v, n], 1).numpy(), dtype=np.float32)  # (V, 6)
        with stop_signals_held():
            self.renderer._platform.make_current()
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.primitive._buffers[0])
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, data.nbytes, data)
            color, _ = self.renderer.render(self.scene, flags=self._flags)
        return color

    def depth(self, verts: np.ndarray) -> np.ndarray:
        """Depth map (size, size) of `verts`; 0 where nothing was drawn."""
        with stop_signals_held():
            self.render(verts)
            return self.renderer.render(self.scene, flags=import_pyrender().RenderFlags.DEPTH_ONLY)

    def close(self) -> None:
        with stop_signals_held():
            self.renderer.delete()
