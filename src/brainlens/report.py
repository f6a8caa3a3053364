"""Pictures of one subject store (where its regions are, how reliable its voxels are, what they prefer,
what it saw) and of a fitted encoder (how well it predicts, and for FactorTopy which layer, place and
scale each voxel reads), a decoder's retrievals, and the table of its reconstructions. The run report of later stages grows
from here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brainlens import store as store_module
from brainlens.reliability import noise_ceiling
from brainlens.viz.cortex import plot_flatmap
from brainlens.viz.images import category_grid, save_figure, save_image
from brainlens.viz.table import table_figure

__all__ = [
    "draw_subject_pictures", "draw_encoder_maps", "draw_synthesis_summary", "region_selectivity", "plot_selectivity",
    "reconstruction_rows", "draw_reconstruction_table", "draw_retrieval",
]


def region_selectivity(store: store_module.Store, *, use_truth: bool = True) -> tuple[np.ndarray, list[str], list[str]]:
    """Mean response of each region to images of each labelled category.

    Uses the noiseless truth of an in-silico store when present (and ``use_truth``), else the
    measured betas with repeats averaged. Returns (matrix (n_regions, n_categories), regions, categories).
    """
    labels = store.labels
    if labels is None:
        raise store_module.StoreError(store.path, "labels", "missing: selectivity needs per-image category labels")
    values, names = labels
    main = values.argmax(1)
    single = values.max(1) >= 1.0
    if use_truth and "truth/signal" in store.file:
        images = np.arange(store.n_images)
        responses = store.file["truth/signal"][()].astype(np.float32)
    else:
        images, responses, _ = store_module.average_repeats(store.betas_at(np.arange(store.n_trials)), store.trial_image)
    regions = [n for n in store.roi_names if n]
    matrix = np.zeros((len(regions), len(names)), dtype=np.float32)
    for i, region in enumerate(regions):
        voxel_mean = responses[:, store.region_voxels(region)].mean(1)
        for j in range(len(names)):
            chosen = (main[images] == j) & single[images]
            matrix[i, j] = voxel_mean[chosen].mean() if chosen.any() else np.nan
    return matrix, regions, names


def plot_selectivity(matrix: np.ndarray, regions: list[str], categories: list[str], title: str):
    """Heat map of region × category mean responses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(categories), 0.9 + 0.36 * len(regions)))
    limit = float(np.nanmax(np.abs(matrix)))
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
    ax.set_yticks(range(len(regions)), regions)
    for i in range(matrix.shape[0]):
        j = int(np.nanargmax(matrix[i]))
        ax.add_patch(matplotlib.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=1.5, ec="black"))
    fig.colorbar(image, ax=ax, label="mean response (z)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def draw_subject_pictures(path: str | Path, out: str | Path) -> list[Path]:
    """Region map, noise ceiling, retinotopy (in-silico truth), category selectivity and a stimulus
    grid of the store at ``path``, as PNGs in ``out``. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    written: list[Path] = []
    with store_module.open_store(path) as s:
        if s.space != "fsaverage5":
            raise ValueError(f"flat maps need voxels on fsaverage5; {path} is in {s.space!r}.")
        vertex, roi, names = s.vertex, s.roi, s.roi_names
        subject = f"{s.attrs['dataset']} subject {s.attrs['subject']}"

        fig = plot_flatmap(roi, vertex, categorical_names=names, outlines=(roi, names), title=f"Regions — {subject}")
        written.append(out / "regions.png")
        save_figure(fig, written[-1])

        if s.ncsnr is not None:
            nc = noise_ceiling(s.ncsnr, 3)
            fig = plot_flatmap(nc, vertex, cmap="inferno", vmin=0, vmax=100, outlines=roi,
                               colorbar_label="noise ceiling (% variance, 3 repeats)",
                               title=f"Noise ceiling from the data's ncsnr — {subject}")
            written.append(out / "noise_ceiling.png")
            save_figure(fig, written[-1])

        if "truth/prf_x" in s.file:
            x, y = s.file["truth/prf_x"][()], s.file["truth/prf_y"][()]
            early = np.isin(roi, [names.index(n) for n in ("V1", "V2", "V3", "hV4") if n in names])
            angle = np.where(early, np.degrees(np.arctan2(y, np.abs(x))), np.nan)
            ecc = np.where(early, np.hypot(x, y), np.nan)
            fig, axes = plt.subplots(2, 2, figsize=(12, 9.5))
            plot_flatmap(angle, vertex, cmap="twilight_shifted", vmin=-90, vmax=90, outlines=roi, ax_pair=axes[0],
                         colorbar_label="polar angle (deg, + upper field)")
            plot_flatmap(ecc, vertex, cmap="plasma", vmin=0, vmax=8, outlines=roi, ax_pair=axes[1],
                         colorbar_label="eccentricity (deg)")
            fig.suptitle(f"True retinotopy of early visual cortex — {subject}")
            written.append(out / "retinotopy.png")
            save_figure(fig, written[-1])

        if s.labels is not None:
            matrix, regions, categories = region_selectivity(s)
            source = "noiseless truth" if "truth/signal" in s.file else "measured betas"
            fig = plot_selectivity(matrix, regions, categories, f"Mean response by image category ({source})")
            written.append(out / "selectivity.png")
            save_figure(fig, written[-1])

            category = s.labels[0].argmax(1)
            shown = np.concatenate([np.flatnonzero(category == k)[:10] for k in range(len(categories))])
            grid = category_grid(s.images_at(shown), category[shown], categories, per_row=10, scale=2)
            written.append(out / "stimuli.png")
            save_image(grid, written[-1])
    return written


def _on_all_voxels(values, voxel_index: np.ndarray, n_voxels: int) -> np.ndarray:
    full = np.full(n_voxels, np.nan)
    full[voxel_index] = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return full


def draw_encoder_maps(encoder_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """Flat maps of a fitted encoder's test scores (R², R²/NC) and, for FactorTopy, of the layer, place
    and scale each voxel selects. Reads ``encoder_dir/metrics.json`` and the store named in its config;
    writes PNGs to ``out`` (default ``encoder_dir``) and returns them."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    encoder_dir = Path(encoder_dir)
    out = Path(out) if out is not None else encoder_dir
    config = json.loads((encoder_dir / "config.json").read_text())
    metrics_path = encoder_dir / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"encoder metrics missing: {metrics_path} (written by `brainlens encode fit`)")
    metrics = json.loads(metrics_path.read_text())
    written: list[Path] = []
    with store_module.open_store(config["store"]) as s:
        if not s.has_location or s.space != "fsaverage5":
            raise ValueError(f"flat maps need voxels on fsaverage5; {s.path} has {s.space if s.has_location else 'no locations'}.")
        vertex, roi, n_voxels = s.vertex, s.roi, s.n_voxels
        subject = f"{s.attrs.get('dataset')} subject {s.attrs.get('subject')}"
    from brainlens.encoding.encoder import load_encoder

    encoder = load_encoder(encoder_dir)
    index = encoder.voxel_index.cpu().numpy()
    r2 = _on_all_voxels(metrics["voxels"]["r2"], index, n_voxels)
    over_nc = _on_all_voxels(metrics["voxels"]["r2_over_nc"], index, n_voxels)
    fig, axes = plt.subplots(2, 2, figsize=(12, 9.5))
    plot_flatmap(r2, vertex, cmap="hot", vmin=0, vmax=max(0.05, float(np.nanpercentile(r2, 99))), outlines=roi,
                 ax_pair=axes[0], colorbar_label="test R²")
    plot_flatmap(over_nc, vertex, cmap="viridis", vmin=0, vmax=1, outlines=roi, ax_pair=axes[1],
                 colorbar_label="R² / noise ceiling")
    fig.suptitle(f"{config['model']} encoder on {config['backbone']} — {subject}")
    written.append(out / "encoder_scores.png")
    save_figure(fig, written[-1])

    if config["model"] == "factortopy":
        import torch

        with torch.no_grad():
            layers = encoder.layer_weights().cpu().numpy()  # (V, n_layers)
            xy = encoder.space_xy().cpu().numpy()  # (V, 2), x right, y down, in [-1, 1]
            scale = encoder.scale_weights().cpu().numpy()  # (V,)
        depth = layers @ np.arange(layers.shape[1]) / max(layers.shape[1] - 1, 1)
        fig, axes = plt.subplots(4, 2, figsize=(12, 18))
        # soft layer choices sit in a narrow band of [0, 1]: the colour range follows the data
        low, high = np.percentile(depth, [2, 98]) if depth.size else (0.0, 1.0)
        plot_flatmap(_on_all_voxels(depth, index, n_voxels), vertex, cmap="viridis", vmin=float(low),
                     vmax=float(max(high, low + 1e-3)), outlines=roi, ax_pair=axes[0],
                     colorbar_label=f"mean layer selected (0 = {encoder.layers[0]}, 1 = {encoder.layers[-1]})")
        plot_flatmap(_on_all_voxels(xy[:, 0], index, n_voxels), vertex, cmap="coolwarm", vmin=-1, vmax=1, outlines=roi,
                     ax_pair=axes[1], colorbar_label="place selected: x (−1 left, +1 right)")
        plot_flatmap(_on_all_voxels(-xy[:, 1], index, n_voxels), vertex, cmap="coolwarm", vmin=-1, vmax=1, outlines=roi,
                     ax_pair=axes[2], colorbar_label="place selected: y (−1 bottom, +1 top)")
        plot_flatmap(_on_all_voxels(scale, index, n_voxels), vertex, cmap="magma", vmin=0, vmax=1, outlines=roi,
                     ax_pair=axes[3], colorbar_label="scale selected (0 global, 1 local)")
        fig.suptitle(f"FactorTopy selectors on {config['backbone']} — {subject}")
        written.append(out / "encoder_selectors.png")
        save_figure(fig, written[-1])
    return written


# each run's objective (a region's response, or a contrast A − B) against the same objective on natural images
_SYNTHESIS_COLUMNS = (
    ("category_accuracy", "category acc."),
    ("true_objective_mean", "true objective"),
    ("top1pct_natural_objective_mean", "top 1% natural"),
    ("random_natural_objective_mean", "random natural"),
    ("oracle_ratio", "oracle ratio"),
)


def draw_synthesis_summary(runs: dict[str, tuple[np.ndarray, dict]], out: str | Path) -> list[Path]:
    """One grid row of synthesized images per region and the table of their figures.

    runs: {region: (images (n, H, W, 3) uint8, metrics from ``generation.synthesis.synthesize``)}.
    Writes ``out/synthesis_grid.png`` and ``out/synthesis_table.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from brainlens.viz.images import image_grid

    out = Path(out)
    per_row = min(len(images) for images, _ in runs.values())
    rows = np.concatenate([images[:per_row] for images, _ in runs.values()])
    grid = image_grid(rows, nrow=per_row, row_labels=list(runs), scale=2)
    written = [out / "synthesis_grid.png"]
    save_image(grid, written[-1])

    # region names as the first column, so that long ones ("OPA-anterior - OPA-posterior") stay inside
    cells = [[name] + [_format(metrics.get(key)) for key, _ in _SYNTHESIS_COLUMNS] for name, (_, metrics) in runs.items()]
    fig, ax = plt.subplots(figsize=(11, 0.4 * len(runs) + 1.0))
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=["region"] + [label for _, label in _SYNTHESIS_COLUMNS],
                     cellLoc="center", bbox=[0, 0, 1, 1])
    table.auto_set_column_width(list(range(len(_SYNTHESIS_COLUMNS) + 1)))
    ax.set_title("Brain-guided synthesis: each objective (a region's response, or A − B) in truth, against the\n"
                 "natural pool's top 1 % of the same objective (in-silico fMRI experiment)")
    written.append(out / "synthesis_table.png")
    save_figure(fig, written[-1])
    return written


def _format(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def _metric_text(key: str, value: float) -> str:
    """Correlations and distances as numbers, identification rates as percentages."""
    return f"{value:.4f}" if key in ("pixcorr", "ssim", "effnet", "swav") else f"{100 * value:.1f} %"


def reconstruction_rows(table: dict) -> list[tuple[str, str, str]]:
    """(metric, value, measured with) of a reconstruction table (:func:`brainlens.evaluation.reconstruction.
    reconstruction_table`), in the table's order, each with the direction that is better."""
    from brainlens.evaluation.reconstruction import TABLE_ORDER

    rows = [("PixCorr ↑", _metric_text("pixcorr", table["pixcorr"]), "Pearson r of pixels at 425 px"),
            ("SSIM ↑", _metric_text("ssim", table["ssim"]), table["ssim_kind"])]
    for key in TABLE_ORDER[2:]:
        if key in table["rows"]:
            row = table["rows"][key]
            arrow = {"identification": "↑ (2-way)", "distance": "↓ (1 − r)"}.get(row["kind"], "↑")
            rows.append((f"{row['title']} {arrow}", _metric_text(key, table[key]), row["network"]))
    for name, value in table.get("pairwise", {}).items():
        if name != "note":
            rows.append((f"pair-wise {name} ↑", f"{100 * value:.1f} %", "MinD-Vis's pair-wise identification on pixels"))
    if "brain" in table:
        brain = table["brain"]
        rows.append(("brain r ↑", f"{brain['correlation']:.4f}", f"responses of {brain['brain']} across {brain['n_voxels']} voxels"))
        rows.append(("brain 2-way ↑", f"{100 * brain['two_way_identification']:.1f} %", "identification in voxel space"))
    return rows


def draw_reconstruction_table(table: dict, path: str | Path, title: str = "") -> Path:
    """The reconstruction table as a PNG at ``path``."""
    save_figure(table_figure(reconstruction_rows(table), title), path)
    return Path(path)


def draw_retrieval(decoder_dir: str | Path, store: str | Path | None = None, out: str | Path | None = None, *,
                   n_brains: int = 8, n_retrieved: int = 5, pool: int = 300, seed: int = 0) -> Path:
    """For ``n_brains`` test brains, the seen image and the ``n_retrieved`` images the decoder ranks first among
    ``pool`` test images (MindEye's image retrieval, as one of its 300-image draws). One row per brain, labelled by
    rank; the seen image where it was retrieved reads "k: seen". Written to ``out`` (default ``decoder_dir/retrieval.png``)."""
    import torch

    from brainlens.decoding.data import load_test, open_paired
    from brainlens.decoding.fit import decoder_subject, embed_voxels, load_decoder
    from brainlens.decoding.targets import TargetSpace
    from brainlens.viz.images import image_grid

    decoder, config = load_decoder(decoder_dir)
    store, subject = decoder_subject(decoder_dir, config, store, None)
    test = load_test(store, TargetSpace(**config["target"]))
    chosen = np.random.default_rng(seed).permutation(len(test.images))[: min(pool, len(test.images))]
    if len(chosen) < max(n_brains, n_retrieved + 1):
        raise ValueError(f"{store} has {len(test.images)} test images; the picture needs at least {max(n_brains, n_retrieved + 1)}.")
    brains = embed_voxels(decoder, test.betas[chosen], subject=None if config["model"] == "ridge" else subject)
    brains = torch.nn.functional.normalize(torch.from_numpy(brains).flatten(1), dim=1)
    images = torch.nn.functional.normalize(torch.from_numpy(test.targets[chosen]).flatten(1), dim=1)
    ranked = (brains[:n_brains] @ images.T).argsort(dim=1, descending=True)[:, :n_retrieved].numpy()  # (n_brains, k)
    rows, labels = [], []
    for b in range(n_brains):
        rows += [b, *ranked[b]]
        labels += ["seen"] + [f"{k + 1}: seen" if r == b else f"{k + 1}" for k, r in enumerate(ranked[b])]
    with open_paired(store) as opened:
        tiles = opened.images_at(test.images[chosen][np.array(rows)])
    out = Path(out) if out is not None else Path(decoder_dir) / "retrieval.png"
    picture = image_grid(tiles, nrow=n_retrieved + 1, labels=labels, scale=2 if tiles.shape[1] <= 96 else 1)
    save_image(picture, out)
    return out
