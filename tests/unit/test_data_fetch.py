"""``sdrrl data fetch`` against a local HTTP server that serves tiny files in the sources' real layouts
(the same URL paths as the real hosts): every source lands where the project's readers find it, a
rerun makes no request, an interrupted download resumes, a 404 is one line with exit status 2."""

from __future__ import annotations

import bz2  # noqa: F401 - tarfile's "w:bz2" needs it
import gzip
import io
import json
import os
import shutil
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sdrrl_ray.app.cli import main
from sdrrl_ray.codeswitch.lexicon import load_lexicons
from sdrrl_ray.config import DataConfig, load_config
from sdrrl_ray.evaluation import belebele, flores, mkqa, offtarget, run, xlsum
from sdrrl_ray.fetch.http import FetchError, download, partial_path
from sdrrl_ray.fetch.run import MANIFEST, fetch
from sdrrl_ray.fetch.sources import SOURCES, resolve_bases
from sdrrl_ray.ingest.files import iter_rows, list_inputs
from sdrrl_ray.parallel.corpus import read_parallel
from tests.conftest import real_data_path

HF = "datasets"
FLORES_LINES = {"eng_Latn": ["The cat sleeps.", "It rains today.", "We read books."],
                "jpn_Jpan": ["猫が寝ている。", "今日は雨が降る。", "私たちは本を読む。"],
                "tha_Thai": ["แมวนอนหลับ", "วันนี้ฝนตก", "เราอ่านหนังสือ"]}


class Handler(SimpleHTTPRequestHandler):
    """Static files, with ``Range`` support and a log of requests (path, Range header)."""

    def log_message(self, *args):
        pass

    def end_headers(self):
        for key, value in self.server.extra_headers.get(self.path, {}).items():
            self.send_header(key, value)
        super().end_headers()

    def do_GET(self):
        rng = self.headers.get("Range")
        self.server.requests.append((self.path, rng))
        path = self.translate_path(self.path)
        if rng and os.path.isfile(path):
            data = open(path, "rb").read()
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    httpd.requests, httpd.extra_headers = [], {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.root, httpd.url = root, f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def put(root, rel: str, data: bytes | str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def jsonl(records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def tarball(members: dict[str, str], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def belebele_record(code: str, passage: str) -> dict:
    return {"link": "https://en.wikibooks.org/wiki/Accordion/Right_hand", "question_number": 1,
            "flores_passage": passage, "question": "Which hand plays the melody?", "mc_answer1": "left",
            "mc_answer2": "right", "mc_answer3": "both", "mc_answer4": "neither", "correct_answer_num": "2",
            "dialect": code, "ds": "2023-05-03"}


def xlsum_archive(name: str, summary: str) -> bytes:
    rec = {"id": f"{name}-1", "url": "https://www.bbc.com/x", "title": "t", "summary": summary, "text": "Body."}
    return tarball({f"./{name}_{split}.jsonl": jsonl([rec]) for split in ("train", "val", "test")}, "w:bz2")


def build_mirror(root) -> None:
    """Tiny files at the real URL paths, in the real formats, for the target ja."""
    put(root, "tatsu-lab/stanford_alpaca/main/alpaca_data.json", json.dumps([
        {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well, sleep, move."},
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"}], indent=4))
    table = pa.table({"translation": [{"en": "Hello.", "ja": "こんにちは。"},
                                      {"en": "Thank\tyou.", "ja": "ありがとう。"}, {"en": "", "ja": "空"}]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    put(root, f"{HF}/Helsinki-NLP/opus-100/resolve/main/en-ja/train-00000-of-00001.parquet", buf.getvalue())
    put(root, "arrival/dictionaries/en-ja.txt", "cat 猫\ndog 犬\nwas was\n")
    put(root, "arrival/dictionaries/ja-en.txt", "猫 cat\n犬 dog\n")
    flores_members = {f"flores200_dataset/{split}/{code}.{split}": "\n".join(lines) + "\n"
                      for code, lines in FLORES_LINES.items() for split in ("dev", "devtest")}
    flores_members["flores200_dataset/metadata_dev.tsv"] = "URL\tdomain\n"
    put(root, "nllb/flores200_dataset.tar.gz", tarball(flores_members, "w:gz"))
    for code, passage in (("eng_Latn", "The right hand plays the melody."), ("jpn_Jpan", "右手が旋律を弾く。")):
        put(root, f"{HF}/facebook/belebele/resolve/main/data/{code}.jsonl", jsonl([belebele_record(code, passage)]))
    for name, summary in (("english", "Sum."), ("japanese", "要約。")):
        put(root, f"{HF}/csebuetnlp/xlsum/resolve/main/data/{name}_XLSum_v2.0.tar.bz2", xlsum_archive(name, summary))
    put(root, "apple/ml-mkqa/raw/master/dataset/mkqa.jsonl.gz", gzip.compress(jsonl([
        {"query": "capital of france", "example_id": 7, "queries": {"en": "capital of france", "ja": "フランスの首都"},
         "answers": {"en": [{"type": "entity", "text": "Paris", "aliases": []}],
                     "ja": [{"type": "entity", "text": "パリ", "aliases": []}]}}]).encode("utf-8")))
    put(root, f"{HF}/databricks/databricks-dolly-15k/resolve/main/databricks-dolly-15k.jsonl", jsonl([
        {"instruction": "Who wrote Hamlet?", "context": "", "response": "Shakespeare.", "category": "open_qa"}]))
    put(root, f"{HF}/MBZUAI/Bactrian-X/resolve/main/data/ja.json.gz", gzip.compress(json.dumps([
        {"instruction": "日本の首都はどこですか？", "input": "", "id": "ja-1", "output": "東京です。"}],
        ensure_ascii=False).encode("utf-8")))


def ctx():
    return run.context(load_config(None, ["languages.targets=[ja]"]))


def unit(module, name):
    return next(u for u in module.units(["ja"]) if u.name == name)


def test_every_source_lands_where_the_readers_find_it(server, tmp_path, monkeypatch):
    build_mirror(server.root)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    dest, lines = tmp_path / "data", []
    summary = fetch(str(dest), languages="ja", base_url=server.url, log=lines.append)
    assert not summary["skipped"] and summary["notes"] == []
    assert all(f"{server.url}/" in line for line in lines if "<-" in line)
    cfg = DataConfig(path=str(dest / "alpaca_data.json"), format="alpaca")
    assert [r["gold_answer"] for r in iter_rows(list_inputs(cfg), cfg)] == ["Eat well, sleep, move.", "Bonjour"]
    corpus = read_parallel(dest / "opus-100" / "en-ja.tsv", src_iso="en", tgt_iso="ja", n_pairs=None, seed=0)
    assert [(p.src, p.tgt) for p in corpus.pairs] == [("Hello.", "こんにちは。"), ("Thank you.", "ありがとう。")]
    assert corpus.bad == []
    lex = load_lexicons(str(dest / "muse"), "en", ["ja"])
    assert lex[("en", "ja")].lookup("Cat") == ("猫",) and lex[("ja", "en")].lookup("犬") == ("dog",)
    data_dir = str(dest / "eval")
    for split in ("dev", "devtest"):
        assert flores.sentences(data_dir, "ja", split) == FLORES_LINES["jpn_Jpan"]
        assert flores.sentences(data_dir, "en", split) == FLORES_LINES["eng_Latn"]
    assert not (dest / "eval" / "flores" / "flores200_dataset" / "dev" / "tha_Thai.dev").exists()  # only what was asked
    c = ctx()
    assert len(flores.load(data_dir, unit(flores, "en-ja"), c)) == 3
    (item,) = belebele.load(data_dir, unit(belebele, "ja"), c)
    assert item["answer"] == 2 and item["fields"]["flores_passage"] == "右手が旋律を弾く。"
    assert [i["summary"] for i in xlsum.load(data_dir, unit(xlsum, "ja"), c)] == ["要約。"]
    assert [i["summary"] for i in xlsum.load(data_dir, unit(xlsum, "en"), c)] == ["Sum."]
    assert not (dest / "eval" / "xlsum" / "english_train.jsonl").exists()
    (q,) = mkqa.load(data_dir, unit(mkqa, "ja"), c)
    assert q["question"] == "フランスの首都" and "skip" not in q
    assert [i["instruction"] for i in offtarget.load(data_dir, unit(offtarget, "en"), c)] == ["Who wrote Hamlet?"]
    (prompt,) = offtarget.load(data_dir, unit(offtarget, "ja"), c)
    assert prompt["instruction"] == "日本の首都はどこですか？"
    assert not (dest / ".downloads").exists()
    assert f"code_switch.dictionaries={dest}/muse" in summary["overrides"]
    assert f"eval.data_dir={dest}/eval" in summary["overrides"]
    assert {s for s in SOURCES} == {line.split(":")[2].strip() for line in lines if "<-" in line}

    # a rerun makes no request at all; a removed output is fetched again, alone
    server.requests.clear()
    again = fetch(str(dest), languages="ja", base_url=server.url, log=lines.append)
    assert server.requests == [] and again["fetched"] == [] and sorted(again["skipped"]) == sorted(summary["fetched"])
    os.remove(dest / "muse" / "ja-en.txt")
    third = fetch(str(dest), languages="ja", base_url=server.url, log=lines.append)
    assert third["fetched"] == ["muse/ja-en.txt"] and server.requests == [("/arrival/dictionaries/ja-en.txt", None)]


def test_languages_without_a_public_file_are_named(server, tmp_path):
    put(server.root, "arrival/dictionaries/en-th.txt", "cat แมว\n")
    put(server.root, "arrival/dictionaries/th-en.txt", "แมว cat\n")
    put(server.root, "arrival/dictionaries/en-no.txt", "cat katt\n")  # MUSE's code for Bokmal is "no"
    put(server.root, "arrival/dictionaries/no-en.txt", "katt cat\n")
    for t in ("th", "km"):
        put(server.root, f"{HF}/MBZUAI/Bactrian-X/resolve/main/data/{t}.json.gz", gzip.compress(b"[]"))
    summary = fetch(str(tmp_path / "d"), sources="muse,bactrianx", languages=["th", "km", "nb"],
                    base_url=f"hf={server.url},fbai={server.url}", log=lambda line: None)
    assert any("no public MUSE dictionary for km" in n for n in summary["notes"])
    assert any("Bactrian-X has no nb" in n for n in summary["notes"])
    assert {"muse/en-th.txt", "muse/no-en.txt"} <= set(summary["fetched"])


def test_an_interrupted_download_resumes_and_a_bad_checksum_is_refused(server, tmp_path):
    data = os.urandom(50_000)
    put(server.root, "f.bin", data)
    target = tmp_path / "out" / "f.bin"
    target.parent.mkdir()
    with open(partial_path(str(target)), "wb") as fh:
        fh.write(data[:20_000])
    got = download(f"{server.url}/f.bin", str(target))
    assert got.resumed_from == 20_000 and target.read_bytes() == data
    assert server.requests[-1] == ("/f.bin", "bytes=20000-")
    assert not os.path.exists(partial_path(str(target)))
    server.extra_headers["/g.bin"] = {"X-Linked-Etag": '"' + "0" * 64 + '"'}  # the hub's LFS sha256 header
    put(server.root, "g.bin", b"payload")
    with pytest.raises(FetchError, match="SHA-256 .* does not match"):
        download(f"{server.url}/g.bin", str(tmp_path / "out" / "g.bin"))
    assert not (tmp_path / "out" / "g.bin").exists()
    assert not os.path.exists(partial_path(str(tmp_path / "out" / "g.bin")))
    with pytest.raises(FetchError, match="where 3 were expected"):
        download(f"{server.url}/g.bin", str(tmp_path / "out" / "g.bin"), size=3)


def test_a_404_is_one_line_and_exit_status_2_through_the_cli(server, tmp_path, capsys):
    dest = tmp_path / "d"
    assert main(["data", "fetch", str(dest), "--sources=alpaca", f"--base-url={server.url}/empty"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    url = f"{server.url}/empty/tatsu-lab/stanford_alpaca/main/alpaca_data.json"
    assert err[0].startswith(f"sdrrl: error: {url}: HTTP 404") and "--base-url" in err[0]
    assert main(["data", "fetch", str(dest), "--sources=nope"]) == 2
    assert "--sources: unknown ['nope']" in capsys.readouterr().err
    assert main(["data", "fetch", str(dest), "--languages=xx"]) == 2
    assert main(["data", "fetch", str(dest), "--base-url=what=http://x"]) == 2


def test_base_urls_come_from_the_defaults_hf_endpoint_and_the_mapping():
    bases = resolve_bases(None, env={"HF_ENDPOINT": "https://hf-mirror.example/"})
    assert bases["hf"] == "https://hf-mirror.example" and bases["fbai"] == "https://dl.fbaipublicfiles.com"
    assert set(resolve_bases("http://m", env={}).values()) == {"http://m"}
    mixed = resolve_bases("fbai=http://a/,flores=http://b", env={})
    assert mixed["fbai"] == "http://a" and mixed["flores"] == "http://b" and mixed["hf"] == "https://huggingface.co"


@pytest.mark.realdata
def test_real_samples_fetched_and_read(server, tmp_path):
    """The shared real samples (MUSE, the LLaMA-Factory Alpaca subset, MKQA's fixture, Dolly's head,
    one BELEBELE record) served at their real URL paths, fetched, and read by the project's readers."""
    root = server.root
    for name in ("en-ja.txt", "ja-en.txt"):
        (root / "arrival" / "dictionaries").mkdir(parents=True, exist_ok=True)
        shutil.copy(real_data_path("muse", name), root / "arrival" / "dictionaries" / name)
    put(root, "tatsu-lab/stanford_alpaca/main/alpaca_data.json", open(real_data_path("alpaca", "alpaca_en_demo.json"),
                                                                      "rb").read())
    put(root, "apple/ml-mkqa/raw/master/dataset/mkqa.jsonl.gz",
        open(real_data_path("eval", "mkqa", "test_mkqa.jsonl.gz"), "rb").read())
    put(root, f"{HF}/databricks/databricks-dolly-15k/resolve/main/databricks-dolly-15k.jsonl",
        open(real_data_path("eval", "dolly", "databricks-dolly-15k.head10.jsonl"), "rb").read())
    put(root, f"{HF}/facebook/belebele/resolve/main/data/eng_Latn.jsonl",
        open(real_data_path("eval", "belebele", "eng_Latn.first1.jsonl"), "rb").read())
    dest = tmp_path / "data"
    fetch(str(dest), sources="alpaca,muse,mkqa,dolly", languages="ja", base_url=server.url, log=lambda line: None)
    download(f"{server.url}/{HF}/facebook/belebele/resolve/main/data/eng_Latn.jsonl",
             str(dest / "eval" / "belebele" / "eng_Latn.jsonl"))
    cfg = DataConfig(path=str(dest / "alpaca_data.json"), format="alpaca")
    assert len(list(iter_rows(list_inputs(cfg), cfg))) == 999  # every record one row (ok or rejected)
    lex = load_lexicons(str(dest / "muse"), "en", ["ja"])
    assert len(lex[("en", "ja")]) > 1000 and len(lex[("ja", "en")]) > 1000
    c, data_dir = ctx(), str(dest / "eval")
    assert len(mkqa.load(data_dir, unit(mkqa, "ja"), c)) == 6
    assert len(offtarget.load(data_dir, unit(offtarget, "en"), c)) == 10
    (item,) = belebele.load(data_dir, unit(belebele, "en"), c)
    assert 1 <= item["answer"] <= 4
    assert json.load(open(dest / MANIFEST))["files"]["alpaca_data.json"]["bytes"] == os.path.getsize(
        real_data_path("alpaca", "alpaca_en_demo.json"))
