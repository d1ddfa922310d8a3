"""Human review: decisions on every kind of suggestion (the only writers of codes, categories, links,
memos and analyses), the review session and the bulk filter language."""
