# The independent reference for evalkit/stats/mixed.py: lme4's glmer (Laplace, nAGQ = 1) on the same votes.
# Run: Rscript tests/stats/data/glmer_reference.R tests/stats/data/glmm_votes.csv
# Prints one line per model: name, fixed intercept, its SE, Wald p, then each variance component.
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
report <- function(name, fit) {
  co <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  cat(name, sprintf("%.6f", co[1, 1]), sprintf("%.6f", co[1, 2]), sprintf("%.6g", co[1, 4]),
      paste0(vc$grp, "=", sprintf("%.6f", vc$vcov)), "\n")
}
report("crossed", glmer(win ~ 1 + (1 | participant_id) + (1 | item_id), data = d, family = binomial))
report("with_song", glmer(win ~ 1 + (1 | participant_id) + (1 | item_id) + (1 | song_id), data = d, family = binomial))
