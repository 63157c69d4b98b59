"""Code infilling on masked diffusion language models: corpus, tokenizer, CLI (``dlm-code``).

Import as ``apps.code``: the standard library already has a module named ``code``.
"""
