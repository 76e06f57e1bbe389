"""epoch_report.py - the epoch table, its ratio rows and its plot (bench/README.md, "Epoch
table"), from the records epochs.py and frameworks.py write. Used by report.py."""

import statistics

TC = "tensorcache"
TDS = "torch DataLoader + TensorDataset"
DATASETS = ("fmnist", "image224")
COLS = [("ep.convert_s", "conversion (s)"), ("ep.disk", "size on disk (MB)"),
        ("ep.hot_seq", "hot sequential (samples/s)"), ("ep.hot_shuf", "hot shuffled (samples/s)"),
        ("ep.cold_shuf", "cold shuffled (samples/s)"), ("ep.rss", "peak RSS (MB)"),
        ("ep.rss_workers", "workers' peak RSS (MB)"), ("ep.read_amp", "read amplification"),
        ("ep.cold_resident", "resident before cold")]


def med(meas, key):
    v = meas.get(key)
    return statistics.median(v.values()) if v else None


def peers_of(meas, ds):
    out = []
    for (b, c, impl) in meas:
        if b.startswith("ep.") and not b.startswith("ep.limit") and c == ds and impl not in out:
            out.append(impl)
    return sorted(out, key=lambda p: (p != TC, p))


def _f(v, digits=3):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    return ("%%.%dg" % digits) % v


def _cell(meas, key):
    """The median; for epochs also how many runs it is the median of."""
    v = meas.get(key)
    if not v:
        return "-"
    m = _f(statistics.median(v.values()))
    return m + (" (n=%d)" % len(v) if key[0] in ("ep.hot_seq", "ep.hot_shuf", "ep.cold_shuf")
                else "")


def table(meas, info, skips):
    """Markdown lines: one table per dataset, the limits first, then every loader."""
    L = []
    for ds in DATASETS:
        peers = peers_of(meas, ds)
        missing = [(c.split("/", 1)[1], why) for b, c, why in skips
                   if b == "ep" and c.startswith(ds + "/")]
        if not peers and not missing:
            continue
        n = info.get("ep_samples_" + ds, "?")
        L += ["", "### %s (%s samples, batches of %s)" % (ds, n, info.get("ep_batch", "?")), "",
              "| loader | delivers | " + " | ".join(c[1] for c in COLS) + " |",
              "|---" * (len(COLS) + 2) + "|"]
        m_seq = med(meas, ("ep.limit_memcpy_seq", ds, "memcpy"))
        m_shuf = med(meas, ("ep.limit_memcpy_shuf", ds, "memcpy"))
        p = med(meas, ("ep.limit_pread", ds, "parallel pread"))
        if m_seq is not None:
            cells = ["-"] * len(COLS)
            cells[2], cells[3] = _f(m_seq), _f(m_shuf)
            L.append("| limit: memcpy of the same bytes from the page cache (hot) | copy | "
                     + " | ".join(cells) + " |")
        if p is not None:
            cells = ["-"] * len(COLS)
            cells[4] = _f(p)
            cells[7] = _f(med(meas, ("ep.limit_pread_amp", ds, "parallel pread")))
            cells[8] = _f(med(meas, ("ep.limit_pread_resident", ds, "parallel pread")))
            L.append("| limit: parallel pread(2), %s threads, no read-around (cold) | copy | "
                     % info.get("ep_limit_pread_threads_" + ds, "?") + " | ".join(cells) + " |")
        for peer in peers:
            cells = [_cell(meas, (b, ds, peer)) for b, _ in COLS]
            knob = info.get("ep_knob_%s_%s" % (ds, peer))
            name = peer + (" (%s)" % knob if knob else "")
            L.append("| %s | %s | %s |" % (name, info.get("ep_delivers_" + peer, "?"),
                                           " | ".join(cells)))
        for peer, why in missing:
            L.append("| %s | - | %s |" % (peer, "not measured: " + why + " |" * (len(COLS) - 1)))
        notcold = [pp for pp in peers if (med(meas, ("ep.cold_resident", ds, pp)) or 0) > 0.01]
        if notcold:
            L.append("")
            L.append("**Not cold** (over 1%% of the pages stayed resident after eviction): %s."
                     % ", ".join(notcold))
    settings = [(k[len("ep_settings_"):], v) for k, v in info.items()
                if k.startswith("ep_settings_")]
    if settings:
        L += ["", "Loader settings (each peer's own writer and loader, at its documented best):", ""]
        L += ["- %s: %s" % (k, v) for k, v in settings]
    return L


def rows(Row):
    """The ratio rows (with targets) of the epoch table and of the framework measures."""
    def make(meas):
        R = []
        S = "Epoch table: tensorcache against the limits and the peers (medians of one run)"
        for ds in DATASETS:
            if ("ep.hot_shuf", ds, TC) not in meas:
                continue
            for mode, lim in (("hot_seq", "ep.limit_memcpy_seq"), ("hot_shuf", "ep.limit_memcpy_shuf")):
                R.append(Row(S, "%s %s epoch vs memcpy of the same bytes" % (ds, mode),
                             ("ep." + mode, ds, TC), (lim, ds, "memcpy"), (">=", 0.8, "ratio"),
                             key="ep_memcpy"))
            R.append(Row(S, "%s cold shuffled epoch vs best parallel pread" % ds,
                         ("ep.cold_shuf", ds, TC), ("ep.limit_pread", ds, "parallel pread"),
                         (">=", 0.8, "ratio"), key="ep_pread"))
            R.append(Row(S, "%s cold shuffled read amplification (storage bytes / delivered)" % ds,
                         ("ep.read_amp", ds, TC), None, ("<=", 1.2, "value"), key="ep_amp"))
            for mode in ("hot_seq", "hot_shuf"):
                R.append(Row(S, "%s %s epoch vs %s (best num_workers)" % (ds, mode, TDS),
                             ("ep." + mode, ds, TC), ("ep." + mode, ds, TDS),
                             (">=", 10.0, "ratio"), key="ep_tds"))
            for peer in peers_of(meas, ds):
                if peer == TDS or peer.startswith(TC):
                    continue
                for mode in ("hot_shuf", "cold_shuf"):
                    if ("ep." + mode, ds, peer) in meas:
                        R.append(Row(S, "%s %s epoch vs %s" % (ds, mode, peer),
                                     ("ep." + mode, ds, TC), ("ep." + mode, ds, peer),
                                     (">=", 1.0, "ratio"), key="ep_peer"))
        F = "Frameworks (issue 9): conversion, Keras, JAX"
        seed = "seed recipe (DataLoader -> numpy -> concatenate -> from_tensor_slices)"
        for ds in DATASETS:
            if ("fw.convert_s", ds, "tensorcache.pack_torch") in meas:
                R.append(Row(F, "%s conversion time: pack_torch vs the seed recipe" % ds,
                             ("fw.convert_s", ds, "tensorcache.pack_torch"),
                             ("fw.convert_s", ds, seed)))
                R.append(Row(F, "%s conversion peak RSS: pack_torch vs the seed recipe" % ds,
                             ("fw.convert_rss", ds, "tensorcache.pack_torch"),
                             ("fw.convert_rss", ds, seed)))
        tcp = "tensorcache.tf_data.dataset"
        if ("fw.pipeline", "fmnist", tcp) in meas:
            R.append(Row(F, "tf.data batches/s vs from_tensor_slices in memory",
                         ("fw.pipeline", "fmnist", tcp),
                         ("fw.pipeline", "fmnist", "from_tensor_slices (in memory)"),
                         (">=", 0.9, "ratio"), key="fw_slices"))
            R.append(Row(F, "tf.data batches/s vs from_generator over the torch DataLoader",
                         ("fw.pipeline", "fmnist", tcp),
                         ("fw.pipeline", "fmnist", "from_generator over the torch DataLoader"),
                         (">=", 5.0, "ratio"), key="fw_gen"))
            for other in ("from_tensor_slices (in memory)",
                          "from_generator over the torch DataLoader"):
                R.append(Row(F, "Keras epoch time (s; lower is better) vs %s" % other,
                             ("fw.keras_epoch", "fmnist", tcp),
                             ("fw.keras_epoch", "fmnist", other)))
        for ds in DATASETS:
            if ("fw.jax", ds, "tensorcache.jax_data.batches") in meas:
                R.append(Row(F, "%s JAX batches/s vs np.asarray fancy indexing" % ds,
                             ("fw.jax", ds, "tensorcache.jax_data.batches"),
                             ("fw.jax", ds, "np.asarray fancy indexing + jnp.asarray")))
        return R
    return make


EXPLAIN = {
    "ep_memcpy": "The hot limit is a C loop copying each sample of the batch from the page "
                 "cache mapping (memcpy), with no Python, no framework and no batch handed to "
                 "anybody. A loader delivering batches to Python pays per-batch overhead on top.",
    "ep_pread": "The cold limit is the best of 1-64 threads each pread()ing single samples with "
                "read-around disabled; a loader that faults pages in through a mapping has one "
                "request in flight per thread.",
    "ep_tds": "Against the default DataLoader over an in-memory TensorDataset at its best "
              "num_workers (0, 2 or 4). With large samples both are bound by copying bytes.",
    "ep_peer": "A ratio below 1 means that peer was faster in this run, by 1/ratio.",
    "ep_amp": "Bytes the kernel read from storage during the cold epoch (/proc/self/io "
              "read_bytes) over the bytes delivered.",
}


def plot(path, meas, info):
    """latest-epochs.png: per dataset, hot and cold shuffled samples/s of every loader, with the
    limits as lines."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (make bench-deps): no epoch plot"
    dss = [d for d in DATASETS if peers_of(meas, d)]
    if not dss:
        return None
    fig, axes = plt.subplots(1, len(dss), figsize=(8 * len(dss), 7), squeeze=False)
    for ax, ds in zip(axes[0], dss):
        peers = peers_of(meas, ds)
        y = list(range(len(peers)))
        hot = [med(meas, ("ep.hot_shuf", ds, p)) or 0 for p in peers]
        cold = [med(meas, ("ep.cold_shuf", ds, p)) or 0 for p in peers]
        ax.barh([i - 0.2 for i in y], hot, 0.4, label="hot shuffled", color="tab:orange")
        ax.barh([i + 0.2 for i in y], cold, 0.4, label="cold shuffled", color="tab:blue")
        lim_h = med(meas, ("ep.limit_memcpy_shuf", ds, "memcpy"))
        lim_c = med(meas, ("ep.limit_pread", ds, "parallel pread"))
        if lim_h:
            ax.axvline(lim_h, color="tab:orange", ls="--", label="memcpy limit (hot)")
        if lim_c:
            ax.axvline(lim_c, color="tab:blue", ls="--", label="parallel pread limit (cold)")
        ax.set_yticks(y)
        ax.set_yticklabels([p[:40] for p in peers], fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("samples/s (log; higher is better)")
        ax.set_title("%s: epoch of %s samples, batch %s" % (ds, info.get("ep_samples_" + ds, "?"),
                                                            info.get("ep_batch", "?")))
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
