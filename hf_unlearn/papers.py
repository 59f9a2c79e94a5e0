"""The papers behind the methods, as structured records: the methods table and the model card's citation read them;
and the project's own measurements that method notes cite."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    """The paper a method comes from.

    Args:
        title (`str`): the paper's title.
        authors (`str`): short author line, e.g. `"Kurmanji et al."`.
        venue (`str`): where it was published (`"NeurIPS"`, `"arXiv preprint"`, ...).
        year (`int` or `None`): the publication year (`None` when we could not check it).
        arxiv_id (`str`, *optional*): the arXiv identifier, e.g. `"2302.09880"`.
        bibtex (`str`, *optional*): the BibTeX entry the model card cites.
    """

    title: str
    authors: str
    venue: str
    year: int | None
    arxiv_id: str | None = None
    bibtex: str = ""

    def __str__(self) -> str:
        return ", ".join(part for part in (self.authors, f'"{self.title}"', self.where) if part)

    @property
    def where(self) -> str:
        return " ".join(str(part) for part in (self.venue, self.year) if part)

    def markdown(self) -> str:
        """A one-line citation for tables, linked to arXiv when the paper is there."""
        text = ", ".join(part for part in (self.authors, self.where) if part)
        return f"[{text}](https://arxiv.org/abs/{self.arxiv_id})" if self.arxiv_id else text


def _bibtex(kind: str, key: str, **fields: str) -> str:
    width = max(len(name) for name in fields)
    lines = [f"  {name:<{width}} = {{{value}}}" for name, value in fields.items()]
    return f"@{kind}{{{key},\n" + ",\n".join(lines) + "\n}"


def _paper(title: str, authors: str, venue: str, year: int | None, cite: str, arxiv_id=None, **entry: str) -> Paper:
    """A [`Paper`] with its BibTeX entry: `cite` is `"<kind>:<key>"` (e.g. `"inproceedings:kurmanji2023unbounded"`),
    `entry` the entry's other fields in order (`author`, then `booktitle`, `journal` or `note`); the entry's title and
    year are the paper's."""
    kind, key = cite.split(":")
    fields = {"title": title, **entry} | ({"year": str(year)} if year is not None else {})
    return Paper(title, authors, venue, year, arxiv_id, _bibtex(kind, key, **fields))


UNSLU_BENCH = _paper(
    title='"Alexa, can you forget me?" Machine Unlearning Benchmark on Spoken Language Understanding',
    authors="Koudounas et al.",
    venue="Interspeech",
    year=2025,
    cite="inproceedings:koudounas2025unslu",
    arxiv_id="2505.15700",
    author="Koudounas, Alkis and Savelli, Claudio and Giobergia, Flavio and Baralis, Elena",
    booktitle="Proc. Interspeech 2025",
)
KURMANJI_2023 = _paper(
    title="Towards Unbounded Machine Unlearning",
    authors="Kurmanji et al.",
    venue="NeurIPS",
    year=2023,
    cite="inproceedings:kurmanji2023unbounded",
    arxiv_id="2302.09880",
    author="Kurmanji, Meghdad and Triantafillou, Peter and Hayes, Jamie and Triantafillou, Eleni",
    booktitle="Advances in Neural Information Processing Systems",
)
GOLATKAR_2020 = _paper(
    title="Eternal Sunshine of the Spotless Net: Selective Forgetting in Deep Networks",
    authors="Golatkar et al.",
    venue="CVPR",
    year=2020,
    cite="inproceedings:golatkar2020eternal",
    arxiv_id="1911.04933",
    author="Golatkar, Aditya and Achille, Alessandro and Soatto, Stefano",
    booktitle="Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)",
)
CHUNDAWAT_2023 = _paper(
    title="Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher",
    authors="Chundawat et al.",
    venue="AAAI",
    year=2023,
    cite="inproceedings:chundawat2023badteaching",
    arxiv_id="2205.08096",
    author="Chundawat, Vikram S. and Tarun, Ayush K. and Mandal, Murari and Kankanhalli, Mohan",
    booktitle="Proceedings of the AAAI Conference on Artificial Intelligence",
)
GOEL_2022 = _paper(
    title="Towards Adversarial Evaluations for Inexact Machine Unlearning",
    authors="Goel et al.",
    venue="arXiv preprint",
    year=2022,
    cite="article:goel2022adversarial",
    arxiv_id="2201.06640",
    author="Goel, Shashwat and Prabhu, Ameya and Sanyal, Amartya and Lim, Ser-Nam and Torr, Philip and "
    "Kumaraguru, Ponnurangam",
    journal="arXiv preprint arXiv:2201.06640",
)
JIA_2023 = _paper(
    title="Model Sparsity Can Simplify Machine Unlearning",
    authors="Jia et al.",
    venue="NeurIPS",
    year=2023,
    cite="inproceedings:jia2023sparsity",
    arxiv_id="2304.04934",
    author="Jia, Jinghan and Liu, Jiancheng and Ram, Parikshit and Yao, Yuguang and Liu, Gaowen and Liu, Yang "
    "and Sharma, Pranay and Liu, Sijia",
    booktitle="Advances in Neural Information Processing Systems",
)
ZHANG_2024 = _paper(
    title="Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning",
    authors="Zhang et al.",
    venue="COLM",
    year=2024,
    cite="inproceedings:zhang2024npo",
    arxiv_id="2404.05868",
    author="Zhang, Ruiqi and Lin, Licong and Bai, Yu and Mei, Song",
    booktitle="Conference on Language Modeling (COLM)",
)
FAN_2024 = _paper(
    title="SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in Both Image "
    "Classification and Generation",
    authors="Fan et al.",
    venue="ICLR",
    year=2024,
    cite="inproceedings:fan2024salun",
    arxiv_id="2310.12508",
    author="Fan, Chongyu and Liu, Jiancheng and Zhang, Yihua and Wong, Eric and Wei, Dennis and Liu, Sijia",
    booktitle="International Conference on Learning Representations",
)
TARUN_2023 = _paper(
    title="Fast Yet Effective Machine Unlearning",
    authors="Tarun et al.",
    venue="IEEE TNNLS",
    year=2023,
    cite="article:tarun2023unsir",
    arxiv_id="2111.08947",
    author="Tarun, Ayush K. and Chundawat, Vikram S. and Mandal, Murari and Kankanhalli, Mohan",
    journal="IEEE Transactions on Neural Networks and Learning Systems",
)
WU_TORIBIO = _paper(
    title="Machine Unlearning on Audio Classification",
    authors="Wu & Toribio",
    venue="",
    year=None,
    cite="misc:wu_toribio_audio_unlearning",
    author="Wu and Toribio",
    note="Reset, perturb and repair on the Free Spoken Digit Dataset",
)


# Where the `peft_note` measurements of forgetting under an adapter come from (docs/lora.md has the tables).
LORA_FORGETTING_RUNS = (
    "measured with `hf-unlearn benchmark --lora_r 8` on a 0.44 M-parameter AST trained from a config, class "
    "requests, 3 seeds, learning rate tuned on validation; docs/lora.md"
)
WHISPER_LORA_RUNS = (
    "measured with `hf-unlearn benchmark --lora_r 8 --tune_epochs 1 2 3` on a 0.37 M-parameter Whisper encoder "
    "trained from a config, class requests, 3 seeds, learning rate and length tuned on validation; docs/lora.md"
)
