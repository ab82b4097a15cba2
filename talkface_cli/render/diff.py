"""A differentiable renderer in pure torch: (B, V, 3) vertices -> (B, 1, S, S) grey shaded images.

Two passes. Visibility (no gradient): every front-facing triangle is tested against the pixel
centres inside its bounding box (triangles are grouped by box size, so small triangles cost few
tests), and a z-buffer (`scatter_reduce` amin) keeps the nearest one per pixel (ties: the lowest
face id). Shading (differentiable): for each covered pixel the barycentric coordinates of its
centre in the winning triangle are recomputed from the vertex positions and used to interpolate
vertex normals, shaded Lambertian with a light at the camera plus ambient. Gradients reach vertex
positions through the barycentrics and the normals; like nvdiffrast without its antialiasing
pass, silhouette edges themselves carry no gradient.
"""

from __future__ import annotations

import torch

from ..face.geometry import corners, vertex_normals
from .camera import OrthoCamera

AMBIENT, DIFFUSE = 0.25, 0.75
LIGHT = (0.0, 0.25, 1.0)  # toward the camera and a little from above


def rasterize(pix: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, size: int) -> torch.Tensor:
    """Index of the visible front-facing triangle at each pixel centre, -1 for background.

    pix (B, V, 2) pixel coordinates, depth (B, V), faces (F, 3) -> (B, size, size) long.
    """
    with torch.no_grad():
        b_count = pix.shape[0]
        tri, tdepth = corners(pix, faces, 1), corners(depth, faces, 1)  # (B, F, 3, 2), (B, F, 3)
        e1, e2 = tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0]
        area = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]  # (B, F); < 0: facing the camera
        tmin, tmax = tri.amin(2), tri.amax(2)  # bounding boxes (B, F, 2)
        lo = torch.ceil(tmin - 0.5).clamp(0, size - 1)  # first covered pixel index (B, F, 2)
        hi = torch.floor(tmax - 0.5).clamp(0, size - 1)
        extent = (hi - lo + 1).amax(-1)  # (B, F)
        keep = (area < 0) & (extent >= 1) & (tmax > 0.5).all(-1) & (tmin < size - 0.5).all(-1)
        keys, depths, ids = [], [], []
        for k in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
            sel = keep & (extent <= k) & (extent > k // 2)
            if not sel.any():
                continue
            bi, fi = sel.nonzero(as_tuple=True)
            flat = bi * faces.shape[0] + fi  # index_select on flattened rows: much faster than tri[bi, fi]
            tri_k, depth_k, lo_k, hi_k = (
                x.flatten(0, 1).index_select(0, flat) for x in (tri, tdepth, lo, hi)
            )
            key, d = _cover(tri_k, depth_k, lo_k, hi_k, k, size)
            ok = key >= 0
            keys.append(bi[:, None].expand_as(key)[ok] * size * size + key[ok])
            depths.append(d[ok])
            ids.append(fi[:, None].expand_as(key)[ok])
        out = torch.full((b_count * size * size,), -1, dtype=torch.long, device=pix.device)
        if keys:
            key, d, fid = torch.cat(keys), torch.cat(depths), torch.cat(ids)
            zbuf = torch.full((b_count * size * size,), float("inf"), dtype=d.dtype, device=d.device)
            zbuf.scatter_reduce_(0, key, d, reduce="amin")
            win = d <= zbuf[key]
            # Triangles that share an edge through a pixel centre can tie in depth there; a plain
            # `out[key] = fid` keeps whichever of torch's parallel writes lands last (EMG training
            # runs drifted apart on it). The lowest face id wins instead: a min is order-free.
            none = faces.shape[0]
            first = torch.full_like(out, none).scatter_reduce_(0, key[win], fid[win], reduce="amin")
            out = torch.where(first < none, first, out)
        return out.view(b_count, size, size)


def _cover(tri, vdepth, lo, hi, k, size):  # noqa: ANN001, ANN202 - internal, shapes below
    """tri (N, 3, 2), vdepth (N, 3), lo/hi (N, 2) -> pixel keys (N, k*k) (-1: not covered), depth."""
    dy, dx = torch.meshgrid(
        torch.arange(k, device=tri.device), torch.arange(k, device=tri.device), indexing="ij"
    )
    px = lo[:, None, 0] + dx.reshape(1, -1)  # (N, k*k)
    py = lo[:, None, 1] + dy.reshape(1, -1)
    w = _barycentric(tri, px + 0.5, py + 0.5)  # (N, k*k, 3)
    inside = (w >= -1e-7).all(-1) & (px <= hi[:, None, 0]) & (py <= hi[:, None, 1])
    key = torch.where(inside, (py * size + px).long(), torch.full_like(px, -1).long())
    return key, (w * vdepth[:, None, :]).sum(-1)


def _barycentric(tri: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Barycentric coordinates of points (x, y) (N, P) in triangles tri (N, 3, 2) -> (N, P, 3)."""
    a, b, c = tri[:, None, 0], tri[:, None, 1], tri[:, None, 2]  # (N, 1, 2)
    det = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
        c[..., 0] - a[..., 0]
    )
    det = torch.where(det.abs() < 1e-12, torch.full_like(det, 1e-12), det)
    w1 = ((x - a[..., 0]) * (c[..., 1] - a[..., 1]) - (y - a[..., 1]) * (c[..., 0] - a[..., 0])) / det
    w2 = ((b[..., 0] - a[..., 0]) * (y - a[..., 1]) - (b[..., 1] - a[..., 1]) * (x - a[..., 0])) / det
    return torch.stack([1 - w1 - w2, w1, w2], -1)


def render_gray(verts: torch.Tensor, faces: torch.Tensor, camera: OrthoCamera) -> torch.Tensor:
    """Differentiable grey shading: verts (B, V, 3) -> images (B, 1, S, S) in [0, 1], 0 = background."""
    size = camera.size
    pix, depth = camera.project(verts)
    tri_map = rasterize(pix.detach(), depth.detach(), faces, size)  # (B, S, S)
    b, yy, xx = (tri_map >= 0).nonzero(as_tuple=True)
    fid = tri_map[b, yy, xx]
    corners = faces[fid]  # (P, 3)
    tri = pix[b[:, None], corners]  # (P, 3, 2), differentiable
    w = _barycentric(tri, (xx + 0.5).to(pix.dtype)[:, None], (yy + 0.5).to(pix.dtype)[:, None])[
        :, 0
    ]  # (P, 3)
    normals = vertex_normals(verts, faces)  # (B, V, 3)
    n = (w[..., None] * normals[b[:, None], corners]).sum(1)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    light = torch.tensor(LIGHT, dtype=verts.dtype, device=verts.device)
    shade = AMBIENT + DIFFUSE * (n @ (light / light.norm())).clamp_min(0)  # (P,)
    img = torch.zeros(verts.shape[0], size * size, dtype=verts.dtype, device=verts.device)
    img = img.index_put((b, yy * size + xx), shade)
    return img.view(-1, 1, size, size)


def silhouette(verts: torch.Tensor, faces: torch.Tensor, camera: OrthoCamera) -> torch.Tensor:
    """(B, V, 3) -> (B, S, S) bool: pixels covered by a front-facing triangle."""
    pix, depth = camera.project(verts)
    return rasterize(pix, depth, faces, camera.size) >= 0
