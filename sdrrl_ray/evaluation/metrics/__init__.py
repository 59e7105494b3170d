"""Metric code, kept free of models and Ray so that it can be checked against known values.

- :mod:`.text`: the Unicode tokenizer shared by ROUGE and the contamination check;
- :mod:`.rouge`: ROUGE-1 / ROUGE-L F1 (own implementation; characters for unspaced scripts);
- :mod:`.bleu`: sacreBLEU BLEU (paper signature ``tok:flores200``, with a documented fallback) and chrF++;
- :mod:`.mkqa`: the official MKQA answer normalization, token F1 and exact match;
- :mod:`.ner`: entity-level F1 with seqeval;
- :mod:`.alignment`: cosine similarity, top-1 retrieval and a 2-D PCA of sentence vectors;
- :mod:`.aggregate`: the NLU / NLG aggregates of the paper's Table 6.
"""
