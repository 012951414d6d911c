module gevecho

go 1.19
