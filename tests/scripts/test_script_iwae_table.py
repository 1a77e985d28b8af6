import pandas as pd

TINY = ["--epochs", "1", "--limit", "30", "--num-samples", "10", "--particles", "1,2",
        "--set", "data.name=sprites", "--set", "data.num_train=200", "--set", "data.num_valid=50",
        "--set", "data.num_test=60", "--set", "model.hidden=[16]", "--set", "guide.hidden=[16]",
        "--set", "model.latent_dim=2"]


def test_iwae_table_on_a_tiny_budget(script, tmp_path, capsys):
    iwae_table = script("iwae_table")
    out = tmp_path / "table.csv"
    args = [*TINY, "--out", str(out), "--runs-dir", str(tmp_path / "runs"),
            "--two-layer-config", str(tmp_path / "absent.toml")]
    assert iwae_table.main(args) == 0
    printed = capsys.readouterr().out
    assert "NOTICE: 2 stochastic layer(s)" in printed and "absent.toml does not exist" in printed
    table = pd.read_csv(out)
    # VAE k=1, VAE k=2, IWAE k=2; each: is_log_px K=10, iwae 1, 2, 10, elbo
    assert len(table) == 3 * 5 and set(table["layers"]) == {1}
    assert sorted(set(zip(table["train.loss"], table["train.num_particles"]))) == [
        ("iwae", 2), ("trace_elbo", 1), ("trace_elbo", 2)]
    md = (tmp_path / "table.md").read_text()
    assert md.splitlines()[0] == ("| stochastic layers | k | VAE (ours) | VAE (Burda et al.) | "
                                  "IWAE (ours) | IWAE (Burda et al.) |")
    ours = table[table["estimator"] == "is_log_px"].set_index(["train.loss", "train.num_particles"])["mean"]
    vae1 = f"{ours['trace_elbo', 1]:.2f}"
    assert f"| 1 | 1 | {vae1} | -88.71 | {vae1} | -88.71 |" in md
    assert f"| 1 | 2 | {ours['trace_elbo', 2]:.2f} |  | {ours['iwae', 2]:.2f} |  |" in md
    assert "| 2 | 1 | skipped | -88.08 | skipped | -88.08 |" in md
    assert "training budget 1 layer: 1 epochs;" in md and "K = 10 on 30 test points of sprites" in md

    assert iwae_table.main(args) == 0  # a re-run reuses everything
    assert "0 to run" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == 15


def test_published_numbers_fill_the_table(script):
    iwae_table = script("iwae_table")
    text = iwae_table.table_markdown({}, [1, 5, 50], [], "note")
    # Burda et al., Appendix D, Table 3: the statically binarized MNIST our data are
    assert "| 1 | 50 | not run | -89.05 | not run | -87.10 |" in text
    assert "| 2 | 5 | not run | -87.63 | not run | -86.17 |" in text
    assert "Appendix D, Table 3" in iwae_table.__doc__ and "-86.76" not in text
    assert text.rstrip().endswith("note")
