module gevhttp

go 1.19
