"""The papers behind the methods, as structured records: the methods table and the model card's citation read them."""

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


UNSLU_BENCH = Paper(
    title='"Alexa, can you forget me?" Machine Unlearning Benchmark on Spoken Language Understanding',
    authors="Koudounas et al.",
    venue="Interspeech",
    year=2025,
    arxiv_id="2505.15700",
    bibtex=_bibtex(
        "inproceedings",
        "koudounas2025unslu",
        title='"Alexa, can you forget me?" Machine Unlearning Benchmark on Spoken Language Understanding',
        author="Koudounas, Alkis and Savelli, Claudio and Giobergia, Flavio and Baralis, Elena",
        booktitle="Proc. Interspeech 2025",
        year="2025",
    ),
)
KURMANJI_2023 = Paper(
    title="Towards Unbounded Machine Unlearning",
    authors="Kurmanji et al.",
    venue="NeurIPS",
    year=2023,
    arxiv_id="2302.09880",
    bibtex=_bibtex(
        "inproceedings",
        "kurmanji2023unbounded",
        title="Towards Unbounded Machine Unlearning",
        author="Kurmanji, Meghdad and Triantafillou, Peter and Hayes, Jamie and Triantafillou, Eleni",
        booktitle="Advances in Neural Information Processing Systems",
        year="2023",
    ),
)
GOLATKAR_2020 = Paper(
    title="Eternal Sunshine of the Spotless Net: Selective Forgetting in Deep Networks",
    authors="Golatkar et al.",
    venue="CVPR",
    year=2020,
    arxiv_id="1911.04933",
    bibtex=_bibtex(
        "inproceedings",
        "golatkar2020eternal",
        title="Eternal Sunshine of the Spotless Net: Selective Forgetting in Deep Networks",
        author="Golatkar, Aditya and Achille, Alessandro and Soatto, Stefano",
        booktitle="Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)",
        year="2020",
    ),
)
CHUNDAWAT_2023 = Paper(
    title="Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher",
    authors="Chundawat et al.",
    venue="AAAI",
    year=2023,
    arxiv_id="2205.08096",
    bibtex=_bibtex(
        "inproceedings",
        "chundawat2023badteaching",
        title="Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher",
        author="Chundawat, Vikram S. and Tarun, Ayush K. and Mandal, Murari and Kankanhalli, Mohan",
        booktitle="Proceedings of the AAAI Conference on Artificial Intelligence",
        year="2023",
    ),
)
GOEL_2022 = Paper(
    title="Towards Adversarial Evaluations for Inexact Machine Unlearning",
    authors="Goel et al.",
    venue="arXiv preprint",
    year=2022,
    arxiv_id="2201.06640",
    bibtex=_bibtex(
        "article",
        "goel2022adversarial",
        title="Towards Adversarial Evaluations for Inexact Machine Unlearning",
        author="Goel, Shashwat and Prabhu, Ameya and Sanyal, Amartya and Lim, Ser-Nam and Torr, Philip and "
        "Kumaraguru, Ponnurangam",
        journal="arXiv preprint arXiv:2201.06640",
        year="2022",
    ),
)
JIA_2023 = Paper(
    title="Model Sparsity Can Simplify Machine Unlearning",
    authors="Jia et al.",
    venue="NeurIPS",
    year=2023,
    arxiv_id="2304.04934",
    bibtex=_bibtex(
        "inproceedings",
        "jia2023sparsity",
        title="Model Sparsity Can Simplify Machine Unlearning",
        author="Jia, Jinghan and Liu, Jiancheng and Ram, Parikshit and Yao, Yuguang and Liu, Gaowen and Liu, Yang "
        "and Sharma, Pranay and Liu, Sijia",
        booktitle="Advances in Neural Information Processing Systems",
        year="2023",
    ),
)
ZHANG_2024 = Paper(
    title="Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning",
    authors="Zhang et al.",
    venue="COLM",
    year=2024,
    arxiv_id="2404.05868",
    bibtex=_bibtex(
        "inproceedings",
        "zhang2024npo",
        title="Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning",
        author="Zhang, Ruiqi and Lin, Licong and Bai, Yu and Mei, Song",
        booktitle="Conference on Language Modeling (COLM)",
        year="2024",
    ),
)
FAN_2024 = Paper(
    title="SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in Both Image Classification and "
    "Generation",
    authors="Fan et al.",
    venue="ICLR",
    year=2024,
    arxiv_id="2310.12508",
    bibtex=_bibtex(
        "inproceedings",
        "fan2024salun",
        title="SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in Both Image Classification "
        "and Generation",
        author="Fan, Chongyu and Liu, Jiancheng and Zhang, Yihua and Wong, Eric and Wei, Dennis and Liu, Sijia",
        booktitle="International Conference on Learning Representations",
        year="2024",
    ),
)
TARUN_2023 = Paper(
    title="Fast Yet Effective Machine Unlearning",
    authors="Tarun et al.",
    venue="IEEE TNNLS",
    year=2023,
    arxiv_id="2111.08947",
    bibtex=_bibtex(
        "article",
        "tarun2023unsir",
        title="Fast Yet Effective Machine Unlearning",
        author="Tarun, Ayush K. and Chundawat, Vikram S. and Mandal, Murari and Kankanhalli, Mohan",
        journal="IEEE Transactions on Neural Networks and Learning Systems",
        year="2023",
    ),
)
WU_TORIBIO = Paper(
    title="Machine Unlearning on Audio Classification",
    authors="Wu & Toribio",
    venue="",
    year=None,  # venue and year not verified: the paper's text was not available to us
    bibtex=_bibtex(
        "misc",
        "wu_toribio_audio_unlearning",
        title="Machine Unlearning on Audio Classification",
        author="Wu and Toribio",
        note="Reset, perturb and repair on the Free Spoken Digit Dataset",
    ),
)
